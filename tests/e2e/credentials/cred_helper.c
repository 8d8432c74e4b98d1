/* nss-cred-helper: what the NSS module does when the application around it changes its
 * credentials, its descriptors or cancels a thread (issue 10, design.md §7). Compiled by
 * tests/e2e/test_module_credentials.py and run through real glibc in the e2e sandbox.
 *
 * Prints one `key=value` line per observation; the test asserts on them. A hash is never
 * printed: the expected one comes on stdin and only `match`/`mismatch` is reported.
 *
 *   drop NAME OTHER UID GID   as root: look up, then setresuid/setresgid without exec
 *   raise NAME                setuid-root or setgid-shadow: drop to the real ids, look
 *                             up, raise back, look up shadow
 *   fds NAME OTHER FILE       closefrom/dup2 onto the module's descriptor between lookups
 *   cancel NAME SOCKET        pthread_cancel while getpwnam waits for a stalled daemon
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* glibc: replaces nsswitch.conf's line for one database in this process. */
extern int __nss_configure_lookup(const char *db, const char *service_line);

static char expected[512];

static void say(const char *key, const char *value) {
    printf("%s=%s\n", key, value);
    fflush(stdout);
}

static void say_int(const char *key, long value) {
    printf("%s=%ld\n", key, value);
    fflush(stdout);
}

static const char *errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EAGAIN: return "EAGAIN";
    case ERANGE: return "ERANGE";
    case EPERM: return "EPERM";
    default: return strerror(e);
    }
}

static void read_expected(void) {
    if (fgets(expected, sizeof expected, stdin) == NULL)
        expected[0] = '\0';
    expected[strcspn(expected, "\n")] = '\0';
}

/* getpwnam: "ok" when NAME came back, else "none:ERRNO". */
static void passwd(const char *key, const char *name) {
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw != NULL && strcmp(pw->pw_name, name) == 0) {
        say(key, "ok");
    } else {
        char v[64];
        snprintf(v, sizeof v, "none:%s", errno_name(errno));
        say(key, v);
    }
}

/* getspnam_r with a large buffer: "match"/"mismatch" against stdin, or "none:ERRNO". */
static void shadow(const char *key, const char *name) {
    struct spwd sp, *res = NULL;
    char buf[4096];
    int rc = getspnam_r(name, &sp, buf, sizeof buf, &res);
    char v[64];
    if (res != NULL)
        snprintf(v, sizeof v, "%s", strcmp(sp.sp_pwdp, expected) == 0 ? "match" : "mismatch");
    else
        snprintf(v, sizeof v, "none:%s", errno_name(rc));
    say(key, v);
}

static int drop(int argc, char **argv) {
    if (argc != 6) return 2;
    const char *name = argv[2], *other = argv[3];
    uid_t uid = (uid_t)atol(argv[4]);
    gid_t gid = (gid_t)atol(argv[5]);
    read_expected();
    __nss_configure_lookup("shadow", "workbench");

    passwd("root_passwd", name);
    shadow("root_shadow", name);
    /* A retry after ERANGE would be replayed without a round trip: keep one pending. */
    struct spwd sp, *res = NULL;
    char tiny[8];
    say("root_tiny_buffer", errno_name(getspnam_r(name, &sp, tiny, sizeof tiny, &res)));
    /* An enumeration page of hashes fetched as root. */
    setspent();
    struct spwd *first = getspent();
    say("root_getspent", first != NULL ? "entry" : "none");

    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
        say("setresuid", strerror(errno));
        return 1;
    }
    say_int("euid", (long)geteuid());

    shadow("dropped_shadow", name);
    long more = 0;
    errno = 0;
    while (getspent() != NULL)
        more++;
    say_int("dropped_getspent_entries", more);
    endspent();
    passwd("dropped_passwd", other);
    return 0;
}

static int raise_back(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *name = argv[2];
    read_expected();
    __nss_configure_lookup("shadow", "workbench");
    uid_t priv_uid = geteuid();
    gid_t priv_gid = getegid();
    say_int("start_euid", (long)priv_uid);
    say_int("start_egid", (long)priv_gid);
    if (setegid(getgid()) != 0 || seteuid(getuid()) != 0) {
        say("drop", strerror(errno));
        return 1;
    }
    passwd("user_passwd", name);
    shadow("user_shadow", name);
    /* Leaves a kept connection made as the user, the one a careless module would reuse. */
    passwd("user_passwd_again", name);
    if (seteuid(priv_uid) != 0 || setegid(priv_gid) != 0) {
        say("raise", strerror(errno));
        return 1;
    }
    say_int("raised_euid", (long)geteuid());
    say_int("raised_egid", (long)getegid());
    shadow("raised_shadow", name);
    passwd("raised_passwd", name);
    return 0;
}

/* The socket descriptor that appeared since `before` (a bitmap of open fds). */
static int new_socket_fd(const unsigned char *before) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || fd >= 4096 || before[fd]) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) found = fd;
    }
    closedir(d);
    return found;
}

static void open_fds(unsigned char *map) {
    memset(map, 0, 4096);
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) map[fd] = 1;
}

/* Same open file as `ref`? */
static int same_file(int fd, const struct stat *ref) {
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == ref->st_dev && st.st_ino == ref->st_ino;
}

struct fds_thread {
    const char *name;
    int file_fd;
    int module_fd;
    struct stat file_st;
};

/* Looks up (the thread gets its own cached connection), then puts the application's
 * file onto that descriptor number and exits: the thread-exit cleanup must not close it. */
static void *fds_thread_main(void *arg) {
    struct fds_thread *t = arg;
    static unsigned char before[4096];
    open_fds(before);
    passwd("thread_passwd", t->name);
    t->module_fd = new_socket_fd(before);
    if (t->module_fd >= 0) {
        close(t->module_fd);
        dup2(t->file_fd, t->module_fd);
    }
    return NULL;
}

static int fds(int argc, char **argv) {
    if (argc != 5) return 2;
    const char *name = argv[2], *other = argv[3], *path = argv[4];
    static unsigned char before[4096];
    /* An application that closed stdin: the module must not take descriptor 0. */
    close(0);
    open_fds(before);
    passwd("first_passwd", name);
    int n = new_socket_fd(before);
    say_int("module_fd", n);
    say_int("fd0_still_closed", fcntl(0, F_GETFD) < 0 && errno == EBADF);
    if (n < 0) return 1;

    /* closefrom(3) as a daemonising application would, then its own file lands on the
     * number the module had. */
    close(n);
    int f = open(path, O_RDWR | O_CLOEXEC);
    if (f < 0) { say("open", strerror(errno)); return 1; }
    if (f != n) { dup2(f, n); close(f); }
    struct stat file_st;
    fstat(n, &file_st);

    passwd("second_passwd", other);
    say_int("file_fd_intact", same_file(n, &file_st));
    open_fds(before);
    passwd("third_passwd", name);
    say_int("new_socket_after_reuse", new_socket_fd(before) < 0 ? 0 : 1);

    pthread_t th;
    struct fds_thread t = { .name = name, .file_fd = n, .module_fd = -1, .file_st = file_st };
    pthread_create(&th, NULL, fds_thread_main, &t);
    pthread_join(th, NULL);
    say_int("thread_module_fd", t.module_fd);
    say_int("thread_fd_intact", t.module_fd >= 0 && same_file(t.module_fd, &file_st));
    say_int("file_fd_still_intact", same_file(n, &file_st));
    passwd("last_passwd", other);
    return 0;
}

struct cancel_state {
    const char *name;
    volatile int returned;
    int found;
    int err;
    int state_after;
};

static void *cancel_thread_main(void *arg) {
    struct cancel_state *c = arg;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old);
    errno = 0;
    struct passwd *pw = getpwnam(c->name);
    c->err = errno;
    c->found = pw != NULL;
    c->returned = 1;
    /* The state we had before the call must be back: enabled. */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &c->state_after);
    pthread_testcancel(); /* the pending cancel acts here */
    return NULL;
}

static int cancel(int argc, char **argv) {
    if (argc != 4) return 2;
    const char *path = argv[3];
    /* A stalled "daemon": this process (root) listens, reads the request, never answers. */
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0) {
        say("listen", strerror(errno));
        return 1;
    }
    setenv("WORKBENCH_NSS_SOCKET", path, 1);

    struct cancel_state c = { .name = argv[2], .state_after = -1 };
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread_main, &c);
    int s = accept(l, NULL, NULL);
    char req[6];
    size_t got = 0;
    while (s >= 0 && got < sizeof req) {
        ssize_t r = read(s, req + got, sizeof req - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    say_int("request_bytes", (long)got);
    /* The thread is now inside the module, waiting for our answer. */
    pthread_cancel(th);
    void *ret = NULL;
    pthread_join(th, &ret);
    say_int("returned", c.returned);
    say_int("found", c.found);
    say("errno", errno_name(c.err));
    say("state_after", c.state_after == PTHREAD_CANCEL_ENABLE ? "enabled" : "disabled");
    say("joined", ret == PTHREAD_CANCELED ? "canceled" : "normally");
    if (s >= 0) close(s);
    unlink(path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (strcmp(argv[1], "drop") == 0) return drop(argc, argv);
    if (strcmp(argv[1], "raise") == 0) return raise_back(argc, argv);
    if (strcmp(argv[1], "fds") == 0) return fds(argc, argv);
    if (strcmp(argv[1], "cancel") == 0) return cancel(argc, argv);
    fprintf(stderr, "usage: see the comment at the top of cred_helper.c\n");
    return 2;
}
