/* A deliberately misbehaving NSS module ("probetest") for nss-probe's self-test: each
 * name selects one behaviour, so the test proves that every probe check can fail.
 * Build: cc -shared -fPIC -o libnss_probetest.so.2 fake_nss.c */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <shadow.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BIG_MEMBERS 20000

static char *take(char **p, size_t *left, size_t n, size_t align) {
    uintptr_t a = (uintptr_t)*p, pad = (align - a % align) % align;
    if (pad + n > *left) return NULL;
    char *out = *p + pad;
    *p += pad + n;
    *left -= pad + n;
    return out;
}

static char *copy(char **p, size_t *left, const char *s) {
    char *d = take(p, left, strlen(s) + 1, 1);
    if (d) memcpy(d, s, strlen(s) + 1);
    return d;
}

#define ERANGE_OUT do { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; } while (0)

enum nss_status _nss_probetest_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                          size_t buflen, int *errnop) {
    if (!strcmp(name, "pteagain")) { *errnop = EAGAIN; return NSS_STATUS_TRYAGAIN; }
    if (!strcmp(name, "ptunavail")) { *errnop = ENOENT; return NSS_STATUS_UNAVAIL; }
    if (!strcmp(name, "pteacces")) { *errnop = EACCES; return NSS_STATUS_UNAVAIL; }
    if (strcmp(name, "ptgood") && strcmp(name, "ptoverflow") && strcmp(name, "ptstatic") &&
        strcmp(name, "ptnoerange")) {
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    }
    if (!strcmp(name, "ptoverflow")) {
        /* Writes 8 bytes past buflen: the probe's guard bytes must notice. */
        memset(buf, 'x', buflen + 8);
    }
    char *p = buf;
    size_t left = buflen;
    pw->pw_name = copy(&p, &left, name);
    pw->pw_passwd = copy(&p, &left, "x");
    pw->pw_gecos = copy(&p, &left, "Probe Test");
    pw->pw_dir = copy(&p, &left, "/home/ptgood");
    pw->pw_shell = copy(&p, &left, "/bin/sh");
    if (!pw->pw_name || !pw->pw_passwd || !pw->pw_gecos || !pw->pw_dir || !pw->pw_shell) {
        if (!strcmp(name, "ptnoerange")) { *errnop = ENOENT; return NSS_STATUS_NOTFOUND; }
        ERANGE_OUT;
    }
    if (!strcmp(name, "ptstatic")) pw->pw_shell = (char *)"/bin/static";
    pw->pw_uid = 5001;
    pw->pw_gid = 5001;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_probetest_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
                                          size_t buflen, int *errnop) {
    if (uid != 5001) { *errnop = ENOENT; return NSS_STATUS_NOTFOUND; }
    return _nss_probetest_getpwnam_r("ptgood", pw, buf, buflen, errnop);
}

enum nss_status _nss_probetest_getgrnam_r(const char *name, struct group *gr, char *buf,
                                          size_t buflen, int *errnop) {
    int big = !strcmp(name, "ptbig"), bad = !strcmp(name, "ptmisaligned");
    if (!big && !bad && strcmp(name, "ptgood")) { *errnop = ENOENT; return NSS_STATUS_NOTFOUND; }
    size_t n = big ? BIG_MEMBERS : 1;
    char *p = buf;
    size_t left = buflen;
    char **mem;
    if (bad) {
        /* gr_mem one byte past an aligned address. */
        mem = (char **)take(&p, &left, (n + 1) * sizeof(char *) + 8, 1);
        if (mem && ((uintptr_t)mem % sizeof(char *)) == 0) mem = (char **)((char *)mem + 1);
        else if (mem) mem = (char **)((char *)mem + 0);
    } else {
        mem = (char **)take(&p, &left, (n + 1) * sizeof(char *), sizeof(char *));
    }
    if (!mem) ERANGE_OUT;
    for (size_t i = 0; i < n; i++) {
        char m[32];
        snprintf(m, sizeof m, "m%05zu", i + 1);
        char *s = copy(&p, &left, m);
        if (!s) ERANGE_OUT;
        memcpy((char *)mem + i * sizeof(char *), &s, sizeof s);
    }
    char *z = NULL;
    memcpy((char *)mem + n * sizeof(char *), &z, sizeof z);
    gr->gr_name = copy(&p, &left, name);
    gr->gr_passwd = copy(&p, &left, "x");
    if (!gr->gr_name || !gr->gr_passwd) ERANGE_OUT;
    gr->gr_mem = mem;
    gr->gr_gid = big ? 5002 : 5001;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_probetest_getspnam_r(const char *name, struct spwd *sp, char *buf,
                                          size_t buflen, int *errnop) {
    if (!strcmp(name, "pteacces")) { *errnop = EACCES; return NSS_STATUS_UNAVAIL; }
    if (strcmp(name, "ptgood")) { *errnop = ENOENT; return NSS_STATUS_NOTFOUND; }
    char *p = buf;
    size_t left = buflen;
    sp->sp_namp = copy(&p, &left, name);
    sp->sp_pwdp = copy(&p, &left, "$6$salt$hash");
    if (!sp->sp_namp || !sp->sp_pwdp) ERANGE_OUT;
    sp->sp_lstchg = sp->sp_min = sp->sp_max = sp->sp_warn = -1;
    sp->sp_inact = sp->sp_expire = -1;
    sp->sp_flag = ~0UL;
    return NSS_STATUS_SUCCESS;
}
