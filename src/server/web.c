/*
 * web.c — the web chat page served at "/", compiled into the binary (no files are read,
 * nothing is fetched from elsewhere; the page's Content-Security-Policy allows only this
 * server). It lists the models, streams answers from /v1/chat/completions, can stop an
 * answer, keeps the conversation in the page, and shows ``` code blocks as preformatted
 * text. An optional "Max tokens" field caps each answer. An API key, when the server needs
 * one, is asked for once and kept in the tab. tests/js/web_e2e.mjs drives this page in
 * headless Chromium.
 */
#include "server/server_int.h"

const char web_index_html[] =
"<!doctype html><html lang=en><head><meta charset=utf-8>"
"<meta name=viewport content='width=device-width,initial-scale=1'><title>hearth</title><style>"
"body{font:15px/1.5 system-ui,sans-serif;max-width:50em;margin:0 auto;padding:1em;color:#222;"
"background:#fff}h1{font-size:1.4em;margin:.2em 0 .5em}"
"#log div{margin:.6em 0;padding:.4em .7em;border-radius:.4em;white-space:pre-wrap;"
"overflow-wrap:anywhere}.user{background:#e8f0fb;color:#023}.assistant{background:#f7f7f5}"
".error{background:#fdecea;color:#900}#log div::before{display:block;font-size:.8em;"
"font-weight:600;color:#666}.user::before{content:'You'}.assistant::before{content:'Model'}"
"pre{background:#272822;color:#f8f8f2;padding:.6em;border-radius:.3em;overflow-x:auto;"
"white-space:pre;font:13px/1.4 ui-monospace,monospace}"
"textarea{width:100%;box-sizing:border-box;height:5em;font:inherit}"
"button,select,input{margin:.3em .3em 0 0;font:inherit}#max{width:6em}"
"</style></head><body><h1>hearth</h1>"
"<label>Model <select id=model></select></label> "
"<label>Max tokens <input id=max type=number min=1 placeholder=auto></label><div id=log></div>"
"<textarea id=input placeholder='Message (Ctrl+Enter sends)'></textarea><br>"
"<button id=send>Send</button><button id=stop disabled>Stop</button>"
"<button id=reset>New chat</button><script>\n"
"'use strict';const $=id=>document.getElementById(id);let history=[],ctl=null;\n"
"let key=sessionStorage.getItem('hearth-key')||'';\n"
"function hdrs(){const h={'Content-Type':'application/json'};if(key)h.Authorization='Bearer '+key;return h}\n"
"async function api(path,opt){let r=await fetch(path,Object.assign({headers:hdrs()},opt));\n"
" if(r.status===401){key=prompt('API key')||'';sessionStorage.setItem('hearth-key',key);\n"
"  r=await fetch(path,Object.assign({},opt,{headers:hdrs()}))}return r}\n"
"function render(el,text){el.textContent='';const parts=text.split('```');\n"
" parts.forEach((p,i)=>{if(i%2){const pre=document.createElement('pre');\n"
"  pre.textContent=p.replace(/^[^\\n]*\\n/,'');el.appendChild(pre);return}\n"
"  if(i>0)p=p.replace(/^\\n/,'');if(i<parts.length-1)p=p.replace(/\\n$/,'');\n"
"  el.appendChild(document.createTextNode(p))})}\n"
"function add(role,text){const d=document.createElement('div');d.className=role;render(d,text);$('log').appendChild(d);return d}\n"
"async function models(){const r=await api('/v1/models');const j=await r.json();\n"
" for(const m of j.data||[]){const o=document.createElement('option');o.textContent=m.id;$('model').appendChild(o)}}\n"
"async function send(){const text=$('input').value.trim();if(!text||ctl)return;$('input').value='';\n"
" history.push({role:'user',content:text});add('user',text);const el=add('assistant','');let answer='';\n"
" ctl=new AbortController();$('stop').disabled=false;$('send').disabled=true;\n"
" try{const r=await api('/v1/chat/completions',{method:'POST',signal:ctl.signal,\n"
"   body:JSON.stringify(Object.assign({model:$('model').value,messages:history,stream:true},\n"
"    +$('max').value>0?{max_tokens:+$('max').value}:{}))});\n"
"  if(!r.ok){const j=await r.json();throw new Error(j.error&&j.error.message||r.status)}\n"
"  const rd=r.body.getReader(),dec=new TextDecoder();let buf='';\n"
"  for(;;){const {done,value}=await rd.read();if(done)break;buf+=dec.decode(value,{stream:true});\n"
"   let i;while((i=buf.indexOf('\\n\\n'))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);\n"
"    if(!ev.startsWith('data: ')||ev==='data: [DONE]')continue;const j=JSON.parse(ev.slice(6));\n"
"    const c=j.choices&&j.choices[0];if(c&&c.delta&&c.delta.content){answer+=c.delta.content;render(el,answer)}}}\n"
" }catch(e){if(e.name!=='AbortError')add('error','error: '+e.message)}\n"
" history.push({role:'assistant',content:answer});ctl=null;$('stop').disabled=true;$('send').disabled=false}\n"
"$('send').onclick=send;$('stop').onclick=()=>ctl&&ctl.abort();\n"
"$('reset').onclick=()=>{history=[];$('log').textContent=''};\n"
"$('input').onkeydown=e=>{if(e.key==='Enter'&&e.ctrlKey)send()};models();\n"
"</script></body></html>\n";
