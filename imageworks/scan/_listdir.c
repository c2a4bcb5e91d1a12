/* One directory of a scan, listed and stat'ed in C: what imageworks/scan/walk.py's Python loop (Walker._list_python)
 * does per entry, with the same results, at about the cost of `find -printf` (bench/scan.py).
 *
 * list_dir(fd, prefix, exts) -> None | (records, subdirs, visited, symlinks, vanished, denied, errors)
 *   fd      an open directory (not closed here; read through a dup of it)
 *   prefix  the directory's relpath plus "/" ("" for the root), UTF-8 bytes
 *   exts    a tuple of (lowercase ASCII extension bytes, ext_id)
 * records: (relpath, name_lc, ext_id, size, mtime_ns, ino, dev) of each image file, in listing order;
 * subdirs: relpaths of the subdirectories; visited: their (dev, ino); symlinks: relpaths;
 * vanished / denied: entries gone (ENOENT) or refused (EACCES, EPERM) at their lstat;
 * errors: (relpath, errno) for any other lstat failure.
 * None: the directory holds a name that is not plain UTF-8, or an extension that is not ASCII; the caller lists it
 * in Python (surrogate escapes, Unicode lower-casing), which also owns every message.
 *
 * The listing and every lstat run without the GIL (the scan's DB writer thread inserts meanwhile); Python objects
 * are made afterwards. mtime_ns is round(st_mtime * 1e9) as Python computes it from its float st_mtime (the Rust
 * walker reports a float too, and the cache compares against mtime_ns_of()). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_EXTS 64
#define MAX_EXT_LEN 15

enum { KIND_FILE = 1, KIND_DIR = 2, KIND_LINK = 3 };

typedef struct {
    size_t off, len; /* the name in the names buffer */
    int kind;
    int ext_id;
    int err; /* errno of the lstat, 0 when it succeeded */
    struct stat st;
} Entry;

typedef struct {
    char ext[MAX_EXT_LEN + 1];
    size_t len;
    int id;
} Ext;

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned int cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + need >= n) return 0; /* cut short */
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0; /* surrogates: Python's strict decoder refuses them too */
        i += need + 1;
    }
    return 1;
}

/* -1: no extension or not an image; -2: an extension with non-ASCII bytes (the caller decides in Python) */
static int ext_id_of(const char *name, size_t len, const Ext *exts, int n_exts) {
    const char *dot = NULL;
    for (size_t i = len; i > 0; i--) {
        if (name[i - 1] == '.') {
            dot = name + i - 1;
            break;
        }
    }
    if (dot == NULL) return -1;
    const char *ext = dot + 1;
    size_t elen = (size_t)(name + len - ext);
    char lower[MAX_EXT_LEN + 1];
    for (size_t i = 0; i < elen; i++) {
        if ((unsigned char)ext[i] >= 0x80) return -2;
    }
    if (elen > MAX_EXT_LEN) return -1;
    for (size_t i = 0; i < elen; i++) {
        char c = ext[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    for (int k = 0; k < n_exts; k++) {
        if (exts[k].len == elen && memcmp(exts[k].ext, lower, elen) == 0) return exts[k].id;
    }
    return -1;
}

static PyObject *mtime_ns_of(const struct stat *st) {
    double t = (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec * 1e-9; /* Python's st_mtime */
    double x = t * 1e9;
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5) rounded = 2.0 * round(x / 2.0); /* float.__round__: half to even */
    return PyLong_FromDouble(rounded); /* as float.__round__ makes it: exact, beyond 64 bits too */
}

typedef struct {
    Entry *entries;
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
    int fallback;  /* a name or extension the caller handles in Python */
    int list_errno;
} Listing;

static int push_name(Listing *l, const char *name, size_t len) {
    if (l->names_len + len > l->names_cap) {
        size_t cap = l->names_cap ? l->names_cap * 2 : 8192;
        while (cap < l->names_len + len) cap *= 2;
        char *p = realloc(l->names, cap);
        if (p == NULL) return -1;
        l->names = p;
        l->names_cap = cap;
    }
    memcpy(l->names + l->names_len, name, len);
    l->names_len += len;
    return 0;
}

static Entry *push_entry(Listing *l) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        Entry *p = realloc(l->entries, cap * sizeof(Entry));
        if (p == NULL) return NULL;
        l->entries = p;
        l->cap = cap;
    }
    Entry *e = &l->entries[l->n++];
    memset(e, 0, sizeof(Entry));
    return e;
}

/* The dup shares fd's offset: leave it at the start, as os.scandir(fd) does (the Python loop may list fd next). */
static int end_listing(DIR *dir, int rc) {
    rewinddir(dir);
    closedir(dir);
    if (rc != 0) errno = ENOMEM;
    return rc;
}

static int add_entry(Listing *l, const char *name, size_t len, int kind, int ext_id, int err, const struct stat *st) {
    Entry *e = push_entry(l);
    if (e == NULL || push_name(l, name, len) != 0) return -1;
    e->off = l->names_len - len;
    e->len = len;
    e->kind = kind;
    e->ext_id = ext_id;
    e->err = err;
    if (!err && kind != KIND_LINK) e->st = *st;
    return 0;
}

/* Runs without the GIL. Returns 0, or -1 with errno (ENOMEM, or the listing's own error in list_errno). */
static int list_into(int fd, const Ext *exts, int n_exts, Listing *l) {
    int dup_fd = dup(fd);
    DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (dir == NULL) {
        l->list_errno = errno;
        if (dup_fd >= 0) close(dup_fd);
        return -1;
    }
    for (;;) {
        errno = 0;
        struct dirent *d = readdir(dir);
        if (d == NULL) {
            if (errno != 0) l->list_errno = errno;
            break;
        }
        const char *name = d->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        size_t len = strlen(name);
        if (!valid_utf8((const unsigned char *)name, len)) {
            l->fallback = 1;
            break;
        }
        int kind, known_stat = 0, err = 0, ext_id = -1;
        struct stat st;
        unsigned char type = d->d_type;
        if (type == DT_UNKNOWN) { /* what DirEntry.is_file() does then: lstat to learn the type */
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                err = errno;
                if (err == ENOENT) continue; /* DirEntry.is_file() and the rest say False for a name gone */
                /* any other failure is raised there: the entry is counted or reported like a failed lstat */
                if (add_entry(l, name, len, KIND_FILE, -1, err, NULL) != 0) return end_listing(dir, -1);
                continue;
            }
            known_stat = 1;
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : 0;
        }
        if (type == DT_REG) {
            ext_id = ext_id_of(name, len, exts, n_exts);
            if (ext_id == -2) {
                l->fallback = 1;
                break;
            }
            if (ext_id < 0) continue; /* not an image: never stat'ed */
            kind = KIND_FILE;
        } else if (type == DT_DIR) {
            kind = KIND_DIR;
        } else if (type == DT_LNK) {
            kind = KIND_LINK;
        } else {
            continue;
        }
        if (kind != KIND_LINK && !known_stat && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) err = errno;
        if (add_entry(l, name, len, kind, ext_id, err, &st) != 0) return end_listing(dir, -1);
    }
    return end_listing(dir, 0);
}

static PyObject *relpath_of(const char *prefix, Py_ssize_t plen, const char *name, size_t len, char **buf,
                            size_t *cap) {
    size_t need = (size_t)plen + len;
    if (need > *cap) {
        size_t c = *cap ? *cap : 512;
        while (c < need) c *= 2;
        char *p = PyMem_Realloc(*buf, c);
        if (p == NULL) return PyErr_NoMemory();
        *buf = p;
        *cap = c;
    }
    memcpy(*buf, prefix, (size_t)plen);
    memcpy(*buf + plen, name, len);
    return PyUnicode_DecodeUTF8(*buf, (Py_ssize_t)need, "strict");
}

static PyObject *name_lower(const char *name, size_t len) {
    int ascii = 1;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)name[i] >= 0x80) {
            ascii = 0;
            break;
        }
    }
    if (!ascii) { /* Unicode lower-casing: str.lower(), as the Python loop does */
        PyObject *s = PyUnicode_DecodeUTF8(name, (Py_ssize_t)len, "strict");
        if (s == NULL) return NULL;
        PyObject *lower = PyObject_CallMethod(s, "lower", NULL);
        Py_DECREF(s);
        return lower;
    }
    PyObject *out = PyUnicode_New((Py_ssize_t)len, 127);
    if (out == NULL) return NULL;
    Py_UCS1 *data = PyUnicode_1BYTE_DATA(out);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        data[i] = (Py_UCS1)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    return out;
}

static int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *list_dir(PyObject *self, PyObject *args) {
    int fd;
    const char *prefix;
    Py_ssize_t plen;
    PyObject *ext_table;
    if (!PyArg_ParseTuple(args, "iy#O!", &fd, &prefix, &plen, &PyTuple_Type, &ext_table)) return NULL;
    Ext exts[MAX_EXTS];
    int n_exts = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ext_table) && n_exts < MAX_EXTS; i++) {
        const char *ext;
        Py_ssize_t elen;
        int id;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(ext_table, i), "y#i", &ext, &elen, &id)) return NULL;
        if (elen > MAX_EXT_LEN) continue;
        memcpy(exts[n_exts].ext, ext, (size_t)elen);
        exts[n_exts].len = (size_t)elen;
        exts[n_exts].id = id;
        n_exts++;
    }

    Listing l;
    memset(&l, 0, sizeof(l));
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = list_into(fd, exts, n_exts, &l);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        free(l.entries);
        free(l.names);
        if (errno == ENOMEM) return PyErr_NoMemory();
        errno = l.list_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (l.list_errno != 0) { /* readdir failed part-way: as os.scandir's iterator would */
        free(l.entries);
        free(l.names);
        errno = l.list_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (l.fallback) {
        free(l.entries);
        free(l.names);
        Py_RETURN_NONE;
    }

    PyObject *records = PyList_New(0), *subdirs = PyList_New(0), *visited = PyList_New(0);
    PyObject *symlinks = PyList_New(0), *errors = PyList_New(0);
    long vanished = 0, denied = 0;
    char *buf = NULL;
    size_t cap = 0;
    PyObject *result = NULL;
    if (records == NULL || subdirs == NULL || visited == NULL || symlinks == NULL || errors == NULL) goto done;
    for (size_t i = 0; i < l.n; i++) {
        Entry *e = &l.entries[i];
        const char *name = l.names + e->off;
        if (e->kind == KIND_LINK) {
            if (append_new(symlinks, relpath_of(prefix, plen, name, e->len, &buf, &cap)) < 0) goto done;
            continue;
        }
        if (e->err) {
            if (e->err == ENOENT) {
                vanished++;
            } else if (e->err == EACCES || e->err == EPERM) {
                denied++;
            } else {
                PyObject *rel = relpath_of(prefix, plen, name, e->len, &buf, &cap);
                if (rel == NULL) goto done;
                if (append_new(errors, Py_BuildValue("(Ni)", rel, e->err)) < 0) goto done;
            }
            continue;
        }
        if (e->kind == KIND_DIR) {
            if (append_new(visited, Py_BuildValue("(KK)", (unsigned long long)e->st.st_dev,
                                                  (unsigned long long)e->st.st_ino)) < 0)
                goto done;
            if (append_new(subdirs, relpath_of(prefix, plen, name, e->len, &buf, &cap)) < 0) goto done;
            continue;
        }
        PyObject *rel = relpath_of(prefix, plen, name, e->len, &buf, &cap);
        if (rel == NULL) goto done;
        PyObject *lower = name_lower(name, e->len);
        if (lower == NULL) {
            Py_DECREF(rel);
            goto done;
        }
        PyObject *mtime = mtime_ns_of(&e->st);
        if (mtime == NULL) {
            Py_DECREF(rel);
            Py_DECREF(lower);
            goto done;
        }
        PyObject *record = Py_BuildValue("(NNiLNKK)", rel, lower, e->ext_id, (long long)e->st.st_size, mtime,
                                         (unsigned long long)e->st.st_ino, (unsigned long long)e->st.st_dev);
        if (append_new(records, record) < 0) goto done;
    }
    result = Py_BuildValue("(OOOOllO)", records, subdirs, visited, symlinks, vanished, denied, errors);
done:
    PyMem_Free(buf);
    free(l.entries);
    free(l.names);
    Py_XDECREF(records);
    Py_XDECREF(subdirs);
    Py_XDECREF(visited);
    Py_XDECREF(symlinks);
    Py_XDECREF(errors);
    return result;
}

static PyMethodDef methods[] = {
    {"list_dir", list_dir, METH_VARARGS,
     "list_dir(fd, prefix, exts) -> None | (records, subdirs, visited, symlinks, vanished, denied, errors)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_listdir", "One directory of a scan, in C.", -1, methods};

PyMODINIT_FUNC PyInit__listdir(void) { return PyModule_Create(&module); }
