/* tunping.c - small request/response latency through a TCP path (a tunnel,
 * a proxy) against the same path's direct baseline.
 *
 *   tunping -s PORT                    echo server on 127.0.0.1:PORT (a thread
 *                                      per connection, TCP_NODELAY)
 *   tunping HOST PORT N SIZE [CONNS]   CONNS connections (default 1), each
 *                                      sends N requests of SIZE bytes one after
 *                                      the other and waits for the echo;
 *                                      prints "n=.. p50_us=.. p99_us=.. max_us=.."
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct job {
    const char *host;
    int port, n, size;
    double *lat;
    int failed;
};

static int full_io(int fd, char *p, size_t n, int wr)
{
    while (n) {
        ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    ssize_t r;

    while ((r = read(fd, buf, sizeof(buf))) > 0)
        if (full_io(fd, buf, (size_t)r, 1) < 0)
            break;
    close(fd);
    return NULL;
}

static int serve(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 128) < 0) {
        perror("tunping: bind");
        return 1;
    }
    for (;;) {
        pthread_t th;
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&th, NULL, echo_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(th);
        else
            close(fd);
    }
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *client(void *arg)
{
    struct job *j = arg;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port) };
    char *out = malloc((size_t)j->size), *in = malloc((size_t)j->size);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, j->host, &a.sin_addr);
    memset(out, 'x', (size_t)j->size);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        j->failed = 1;
        goto out;
    }
    for (int i = 0; i < j->n; i++) {
        double t0 = now_us();
        if (full_io(fd, out, (size_t)j->size, 1) < 0 || full_io(fd, in, (size_t)j->size, 0) < 0) {
            j->failed = 1;
            break;
        }
        j->lat[i] = now_us() - t0;
    }
out:
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n, size, conns, total;
    pthread_t th[64];
    struct job jobs[64];
    double *all;

    if (argc == 3 && !strcmp(argv[1], "-s"))
        return serve(atoi(argv[2]));
    if (argc < 5) {
        fprintf(stderr, "usage: tunping -s PORT | tunping HOST PORT N SIZE [CONNS]\n");
        return 2;
    }
    n = atoi(argv[3]);
    size = atoi(argv[4]);
    conns = argc > 5 ? atoi(argv[5]) : 1;
    if (n < 1 || size < 1 || conns < 1 || conns > 64)
        return 2;
    total = n * conns;
    all = calloc((size_t)total, sizeof(double));
    for (int c = 0; c < conns; c++) {
        jobs[c] = (struct job){ argv[1], atoi(argv[2]), n, size, all + c * n, 0 };
        pthread_create(&th[c], NULL, client, &jobs[c]);
    }
    for (int c = 0; c < conns; c++) {
        pthread_join(th[c], NULL);
        if (jobs[c].failed) {
            fprintf(stderr, "tunping: connection %d failed\n", c);
            return 1;
        }
    }
    qsort(all, (size_t)total, sizeof(double), cmp);
    printf("n=%d p50_us=%.0f p99_us=%.0f max_us=%.0f\n", total, all[total / 2],
           all[(int)(total * 0.99)], all[total - 1]);
    free(all);
    return 0;
}
