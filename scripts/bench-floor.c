// Kernel floor for newline-framed request/response over a Unix-domain socket.
// server PATH            : thread per connection, echoes whatever it reads
// seq PATH N             : one connection, N sequential 80-byte round trips, prints p50/p99 (us)
// conc PATH CONNS SECS   : CONNS threads, closed loop, prints req/s and p50/p99
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char MSG[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"msg\":\"hello world\",\"n\":1}}\n";
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static int dial(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0); struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    return fd;
}
static void *echo(void *arg) {
    int fd = (int)(long)arg; char buf[65536]; ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) { ssize_t o = 0; while (o < n) { ssize_t w = write(fd, buf + o, n - o); if (w <= 0) goto out; o += w; } }
out: close(fd); return NULL;
}
static int roundtrip(int fd) {  // send one line, read until newline
    char buf[4096]; size_t len = sizeof MSG - 1;
    if (write(fd, MSG, len) != (ssize_t)len) return -1;
    for (;;) { ssize_t n = read(fd, buf, sizeof buf); if (n <= 0) return -1; if (buf[n - 1] == '\n') return 0; }
}
typedef struct { const char *path; double secs; double *lat; long n, cap; } Arg;
static void *worker(void *p) {
    Arg *a = p; int fd = dial(a->path); double end = now_us() + a->secs * 1e6;
    for (;;) { double t0 = now_us(); if (roundtrip(fd) < 0) break; double t1 = now_us(); if (a->n < a->cap) a->lat[a->n++] = t1 - t0; if (t1 >= end) break; }
    close(fd); return NULL;
}
int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "server")) {
        unlink(argv[2]); int s = socket(AF_UNIX, SOCK_STREAM, 0); struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 256) < 0) { perror("bind"); return 1; }
        for (;;) { int c = accept(s, NULL, NULL); if (c < 0) continue; pthread_t t; pthread_create(&t, NULL, echo, (void *)(long)c); pthread_detach(t); }
    }
    if (argc >= 4 && !strcmp(argv[1], "seq")) {
        long n = atol(argv[3]); double *lat = malloc(n * sizeof *lat); int fd = dial(argv[2]);
        for (int i = 0; i < 1000; i++) roundtrip(fd);
        for (long i = 0; i < n; i++) { double t0 = now_us(); roundtrip(fd); lat[i] = now_us() - t0; }
        qsort(lat, n, sizeof *lat, cmp);
        printf("{\"label\":\"c-floor\",\"mode\":\"seq\",\"n\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n", n, lat[n / 2], lat[n * 99 / 100], lat[n * 999 / 1000]);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "conc")) {
        int c = atoi(argv[3]); double secs = atof(argv[4]); pthread_t *t = calloc(c, sizeof *t); Arg *a = calloc(c, sizeof *a);
        for (int i = 0; i < c; i++) { a[i] = (Arg){argv[2], secs, malloc(4000000 * sizeof(double)), 0, 4000000}; pthread_create(&t[i], NULL, worker, &a[i]); }
        long total = 0; for (int i = 0; i < c; i++) { pthread_join(t[i], NULL); total += a[i].n; }
        double *all = malloc(total * sizeof *all); long k = 0;
        for (int i = 0; i < c; i++) { memcpy(all + k, a[i].lat, a[i].n * sizeof(double)); k += a[i].n; }
        qsort(all, total, sizeof *all, cmp);
        printf("{\"label\":\"c-floor\",\"mode\":\"conc\",\"conns\":%d,\"n\":%ld,\"rps\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", c, total, total / secs, all[total / 2], all[total * 99 / 100]);
        return 0;
    }
    fprintf(stderr, "usage: server PATH | seq PATH N | conc PATH CONNS SECS\n"); return 2;
}
