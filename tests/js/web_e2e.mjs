// web_e2e.mjs PORT [SCREENSHOT.png] — the web chat page of `hearth serve`, end to end in
// headless Chromium (Debian's /usr/bin/chromium driven by playwright-core).
//
// The server must serve one synthetic model with a long context (so an answer without a
// token limit runs for seconds). Steps: load the page and see the model listed; send a
// message with a small token limit and see the answer finish; send one without a limit,
// see its text grow over several updates, press Stop, and see the text stop growing and
// the server's generation end (GET /metrics); send a third message and check the request
// carried the whole conversation; check a ``` block renders as <pre>. Prints "web e2e ok"
// and exits 0, or prints what failed and exits 1. tests/unit/test_web_e2e.c runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const port = process.argv[2];
const shot = process.argv[3];
const base = `http://127.0.0.1:${port}`;
const profile = mkdtempSync(join(tmpdir(), 'hearth-chromium-'));

function check(cond, what) {
    if (!cond) throw new Error(`check failed: ${what}`);
}

async function metric(name) {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name + ' '));
    return line ? Number(line.split(' ')[1]) : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lastAnswer = (page) => page.evaluate(() => {
    const a = document.querySelectorAll('#log .assistant');
    return a.length ? a[a.length - 1].textContent : null;
});
const idle = (page) => page.waitForFunction(
    () => document.getElementById('stop').disabled && !document.getElementById('send').disabled,
    null, { timeout: 30000 });

const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 900, height: 700 },
});
let failed = false;
try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const bodies = [];
    page.on('request', (r) => {
        if (r.url().endsWith('/v1/chat/completions')) bodies.push(JSON.parse(r.postData()));
    });
    await page.goto(base + '/');
    await page.waitForSelector('#model option', { state: 'attached', timeout: 15000 });
    const models = await page.$$eval('#model option', (os) => os.map((o) => o.textContent));
    check(models.length === 1 && models[0].length > 0, `one model listed (${models})`);

    // 1. a short answer runs to its end
    await page.fill('#max', '12');
    await page.fill('#input', 'Hello there');
    await page.click('#send');
    await page.waitForSelector('#log .assistant', { timeout: 15000 });
    await idle(page);
    const first = await lastAnswer(page);
    check(first && first.length > 0, 'the first answer has text');
    check(bodies[0].max_tokens === 12 && bodies[0].stream === true, 'max_tokens and stream sent');

    // 2. an unlimited answer streams, and Stop ends it mid-stream
    await page.fill('#max', '');
    await page.fill('#input', 'Tell me a long story');
    await page.click('#send');
    const seen = new Set();
    for (let i = 0; i < 600 && seen.size < 4; i++) {
        const t = await lastAnswer(page);
        if (t && t !== first) seen.add(t.length);
        await sleep(10);
    }
    check(seen.size >= 4, `the answer grew over several updates (${[...seen]})`);
    check(!(await page.isDisabled('#stop')), 'Stop is enabled while streaming');
    await page.click('#stop');
    await idle(page);
    const stopped = await lastAnswer(page);
    await sleep(500);
    check((await lastAnswer(page)) === stopped, 'the text stops growing after Stop');
    let active = NaN;
    for (let i = 0; i < 50 && active !== 0; i++) {
        active = await metric('hearth_requests_active');
        if (active !== 0) await sleep(100);
    }
    check(active === 0, 'the server cancelled the stopped generation');
    check(await page.$('#log .error') === null, 'no error shown after Stop');

    // 3. the conversation goes on with its history; code blocks are preformatted
    await page.fill('#max', '4');
    await page.fill('#input', 'Look:\n```c\nint main(void) { return 0; }\n```\nthanks');
    await page.click('#send');
    await idle(page);
    const last = bodies[bodies.length - 1].messages;
    // The answers are compared without whitespace: the page shows random-model text through
    // its renderer, which can fold spaces and newlines differently from the raw stream.
    const squash = (t) => String(t).replace(/\s+/g, '');
    check(last.length === 5 && last[0].role === 'user' && last[2].role === 'user' &&
          last[1].role === 'assistant' && last[3].role === 'assistant' &&
          last[4].role === 'user' && last[4].content.startsWith('Look:') &&
          squash(last[1].content).length > 0 && squash(last[3].content).length > 0 &&
          squash(last[1].content).startsWith(squash(first).slice(0, 8)) &&
          squash(last[3].content).startsWith(squash(stopped).slice(0, 8)),
          'the third request carries the conversation');
    const pre = await page.$$eval('#log .user pre', (ps) => ps.map((p) => p.textContent));
    check(pre.length === 1 && pre[0] === 'int main(void) { return 0; }\n', `code block (${pre})`);
    check(pageErrors.length === 0, `no page errors (${pageErrors})`);
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    console.log(`web e2e ok: ${first.length} chars, stopped at ${stopped.length} chars`);
} catch (e) {
    console.log(`web e2e FAILED: ${e.message}`);
    failed = true;
} finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
