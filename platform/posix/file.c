/* POSIX files and folders: pread/pwrite(v), fdatasync, fallocate reservations,
 * atomic rename and folder sync. OS errors are logged here and translated. */
#define _GNU_SOURCE
#define ED_LOG_MODULE "file"
#include "platform/platform.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

struct ed_file {
    int fd;
};

int ed_posix_err(int e)
{
    switch (e) {
    case 0:
        return ED_OK;
    case ENOMEM:
        return ED_ERR_NOMEM;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return ED_ERR_NOSPC;
    case ENOENT:
    case ENOTDIR:
        return ED_ERR_NOENT;
    case EEXIST:
    case ENOTEMPTY:
        return ED_ERR_EXIST;
    case EAGAIN:
    case EINTR:
        return ED_ERR_AGAIN;
    case EINVAL:
    case ENAMETOOLONG:
        return ED_ERR_INVAL;
    case EACCES:
    case EPERM:
    case EROFS:
        return ED_ERR_PERM;
    case EBUSY:
        return ED_ERR_BUSY;
    case ETIMEDOUT:
        return ED_ERR_TIMEOUT;
    case EOPNOTSUPP:
        return ED_ERR_UNSUPPORTED;
    default:
        return ED_ERR_IO;
    }
}

static int fail(const char *what, const char *path)
{
    int e = errno;
    if (e != ENOENT && e != EEXIST) ED_LOG_ERR("%s %s: %s", what, path ? path : "", strerror(e));
    return ed_posix_err(e);
}

int ed_plat_file_open(const char *path, int flags, ed_file **out)
{
    int of = O_CLOEXEC;
    of |= (flags & ED_FILE_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & ED_FILE_CREATE) of |= O_CREAT;
    if (flags & ED_FILE_EXCL) of |= O_EXCL;
    if (flags & ED_FILE_TRUNC) of |= O_TRUNC;
    ed_file *f = ed_malloc(sizeof *f);
    if (!f) return ED_ERR_NOMEM;
    do
        f->fd = open(path, of, 0644);
    while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        int rc = fail("open", path);
        ed_free(f);
        return rc;
    }
    *out = f;
    return ED_OK;
}

int ed_plat_file_close(ed_file *f)
{
    if (!f) return ED_OK;
    int rc = close(f->fd) == 0 ? ED_OK : fail("close", NULL);
    ed_free(f);
    return rc;
}

int ed_plat_file_pread(ed_file *f, void *buf, size_t len, uint64_t off, size_t *n_read)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("pread", NULL);
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    *n_read = done;
    return ED_OK;
}

int ed_plat_file_pwrite(ed_file *f, const void *buf, size_t len, uint64_t off)
{
    struct ed_iovec v = {buf, len};
    return ed_plat_file_pwritev(f, &v, 1, off);
}

int ed_plat_file_pwritev(ed_file *f, const struct ed_iovec *iov, int n_iov, uint64_t off)
{
    struct iovec local[64];
    while (n_iov > 0) {
        int n = n_iov > 64 ? 64 : n_iov;
        size_t total = 0;
        for (int i = 0; i < n; i++) {
            local[i].iov_base = (void *)iov[i].base;
            local[i].iov_len = iov[i].len;
            total += iov[i].len;
        }
        struct iovec *v = local;
        int nv = n;
        while (total > 0) {
            ssize_t w = pwritev(f->fd, v, nv, (off_t)off);
            if (w < 0) {
                if (errno == EINTR) continue;
                return fail("pwritev", NULL);
            }
            if (w == 0) {
                errno = ENOSPC;
                return fail("pwritev", NULL);
            }
            off += (uint64_t)w;
            total -= (size_t)w;
            while (nv > 0 && (size_t)w >= v->iov_len) {
                w -= (ssize_t)v->iov_len;
                v++;
                nv--;
            }
            if (nv > 0) {
                v->iov_base = (char *)v->iov_base + w;
                v->iov_len -= (size_t)w;
            }
        }
        iov += n;
        n_iov -= n;
    }
    return ED_OK;
}

int ed_plat_file_size(ed_file *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) return fail("fstat", NULL);
    *size = (uint64_t)st.st_size;
    return ED_OK;
}

int ed_plat_file_truncate(ed_file *f, uint64_t size)
{
    while (ftruncate(f->fd, (off_t)size) != 0)
        if (errno != EINTR) return fail("ftruncate", NULL);
    return ED_OK;
}

int ed_plat_file_datasync(ed_file *f)
{
    while (fdatasync(f->fd) != 0)
        if (errno != EINTR) return fail("fdatasync", NULL);
    return ED_OK;
}

int ed_plat_file_reserve(ed_file *f, uint64_t off, uint64_t len)
{
#ifdef FALLOC_FL_KEEP_SIZE
    if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) return ED_OK;
    if (errno == EOPNOTSUPP || errno == ENOSYS) return ED_OK;
    return fail("fallocate", NULL);
#else
    ED_UNUSED(f);
    ED_UNUSED(off);
    ED_UNUSED(len);
    return ED_OK;
#endif
}

int ed_plat_file_handle(const ed_file *f)
{
    return f->fd;
}

int ed_plat_path_rename(const char *from, const char *to)
{
    return rename(from, to) == 0 ? ED_OK : fail("rename", from);
}

int ed_plat_path_unlink(const char *path)
{
    return unlink(path) == 0 ? ED_OK : fail("unlink", path);
}

int ed_plat_path_stat(const char *path, bool *is_dir, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0) return fail("stat", path);
    if (is_dir) *is_dir = S_ISDIR(st.st_mode);
    if (size) *size = (uint64_t)st.st_size;
    return ED_OK;
}

int ed_plat_path_private(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return fail("stat", path);
    return (st.st_mode & (S_IRWXG | S_IRWXO)) ? ED_ERR_PERM : ED_OK;
}

int ed_plat_dir_make(const char *path)
{
    if (mkdir(path, 0755) == 0) return ED_OK;
    if (errno == EEXIST) {
        bool d = false;
        if (ed_plat_path_stat(path, &d, NULL) == ED_OK && d) return ED_OK;
        errno = EEXIST;
    }
    return fail("mkdir", path);
}

int ed_plat_dir_remove(const char *path)
{
    return rmdir(path) == 0 ? ED_OK : fail("rmdir", path);
}

int ed_plat_dir_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail("open dir", path);
    int rc = ED_OK;
    if (fsync(fd) != 0 && errno != EINVAL) rc = fail("fsync dir", path);
    close(fd);
    return rc;
}

int ed_plat_dir_list(const char *path, ed_dir_cb cb, void *arg)
{
    DIR *d = opendir(path);
    if (!d) return fail("opendir", path);
    int rc = ED_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%s/%s", path, e->d_name);
            ed_plat_path_stat(full, &is_dir, NULL);
        }
        rc = cb(arg, e->d_name, is_dir);
        if (rc != 0) break;
    }
    closedir(d);
    return rc;
}

int ed_plat_fs_space(const char *path, uint64_t *free_len, uint64_t *total_len)
{
    struct statvfs s;
    if (statvfs(path, &s) != 0) return fail("statvfs", path);
    if (free_len) *free_len = (uint64_t)s.f_bavail * s.f_frsize;
    if (total_len) *total_len = (uint64_t)s.f_blocks * s.f_frsize;
    return ED_OK;
}
