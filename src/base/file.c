/* file.c — see file.h. */
#include "base/file.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

hearth_status file_map_open(file_map *m, const char *path, hearth_error *err)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, HEARTH_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, HEARTH_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return err_set(err, HEARTH_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd); /* the mapping keeps the file alive */
    return HEARTH_OK;
}

void file_map_close(file_map *m)
{
    if (m->data)
        munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

hearth_status file_read_all(const char *path, size_t max_size, char **out, size_t *size,
                            hearth_error *err)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return err_set(err, HEARTH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = mem_alloc(cap);
    for (;;) {
        if (!buf) {
            fclose(fp);
            return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory reading file", path);
        }
        n += fread(buf + n, 1, cap - n - 1, fp);
        if (n < cap - 1)
            break;
        if (cap > max_size) {
            mem_free(buf);
            fclose(fp);
            return err_set(err, HEARTH_ERR_RANGE, "%s: larger than %zu bytes", path, max_size);
        }
        char *nb = mem_realloc(buf, cap * 2);
        if (!nb)
            mem_free(buf);
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad || n > max_size) {
        mem_free(buf);
        return bad ? err_set(err, HEARTH_ERR_IO, "%s: read error", path)
                   : err_set(err, HEARTH_ERR_RANGE, "%s: larger than %zu bytes", path, max_size);
    }
    buf[n] = '\0';
    *out = buf;
    if (size)
        *size = n;
    return HEARTH_OK;
}

hearth_status file_atomic_open(file_atomic *a, const char *path, hearth_error *err)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 32;
    a->path = mem_strdup(path);
    a->tmp_path = mem_alloc(n);
    if (!a->path || !a->tmp_path) {
        file_atomic_abort(a);
        return err_set(err, HEARTH_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(a->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    a->fp = fopen(a->tmp_path, "wb");
    if (!a->fp) {
        hearth_status st = err_set(err, HEARTH_ERR_IO, "%s: cannot create: %s", a->tmp_path,
                                   strerror(errno));
        file_atomic_abort(a);
        return st;
    }
    return HEARTH_OK;
}

hearth_status file_atomic_commit(file_atomic *a, hearth_error *err)
{
    hearth_status st = HEARTH_OK;
    if (fflush(a->fp) != 0 || ferror(a->fp) || fsync(fileno(a->fp)) != 0)
        st = err_set(err, HEARTH_ERR_IO, "%s: write failed: %s", a->tmp_path, strerror(errno));
    if (fclose(a->fp) != 0 && st == HEARTH_OK)
        st = err_set(err, HEARTH_ERR_IO, "%s: close failed: %s", a->tmp_path, strerror(errno));
    a->fp = NULL;
    if (st == HEARTH_OK && rename(a->tmp_path, a->path) != 0)
        st = err_set(err, HEARTH_ERR_IO, "%s: cannot rename into place: %s", a->path,
                     strerror(errno));
    if (st != HEARTH_OK)
        unlink(a->tmp_path);
    mem_free(a->path);
    mem_free(a->tmp_path);
    a->path = a->tmp_path = NULL;
    return st;
}

void file_atomic_abort(file_atomic *a)
{
    if (a->fp) {
        fclose(a->fp);
        unlink(a->tmp_path);
    }
    mem_free(a->path);
    mem_free(a->tmp_path);
    memset(a, 0, sizeof *a);
}
