// SPDX-License-Identifier: Apache-2.0
/*
 * Connection storm for agent/bench-sensor.ts: many short TCP connections per
 * second between two network namespaces, to measure the sensor's cost per
 * program run. Not part of the sensor.
 *
 *   storm serve PORT WORKERS              accept and close at once (server FINs first,
 *                                         so TIME_WAIT stays on the server side and
 *                                         the client's ephemeral ports recycle)
 *   storm client ADDR PORT SECONDS WORKERS [MAX [RATE]]
 *                                         connect, wait for EOF, close; stops after
 *                                         SECONDS or MAX connections in all (0 = no
 *                                         bound), paced to RATE per second in all
 *                                         (0 = as fast as possible); prints
 *                                         "connections N seconds S failed F"
 *   storm hold ADDR PORT N                open N connections and keep them all open,
 *                                         then close them all; same output
 *   storm userve PORT WORKERS             UDP: echo every datagram to its sender
 *   storm uclient ADDR PORT SECONDS WORKERS [MAX [RATE]]
 *                                         UDP: per exchange a fresh socket sends one
 *                                         32-byte datagram, waits up to 1 s for the
 *                                         echo, closes (one UDP flow per side); same
 *                                         bounds and output, "connections" being
 *                                         answered exchanges and "failed" unanswered
 *
 * "failed" counts connect() calls that sent a SYN and failed (refused, timed
 * out, reset): the sensor sees those too, so the tests' arithmetic needs them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int serve(int port, int workers)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4096)) {
		perror("storm serve: bind/listen");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	for (int i = 1; i < workers; i++)
		if (fork() == 0)
			break;
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

static int sent_syn(int err)
{
	return err == ECONNREFUSED || err == ETIMEDOUT || err == ECONNRESET || err == EHOSTUNREACH;
}

/* One TCP connection: 1 connected, -1 a SYN went out and failed, 0 nothing sent. */
static int one_tcp(const struct sockaddr_in *a)
{
	char buf[64];
	int s = socket(AF_INET, SOCK_STREAM, 0), r = 0;

	if (connect(s, (const struct sockaddr *)a, sizeof(*a)) == 0) {
		while (read(s, buf, sizeof(buf)) > 0)
			;
		r = 1;
	} else if (sent_syn(errno)) {
		r = -1;
	}
	close(s);
	return r;
}

/* One UDP exchange: 1 answered, -1 sent but unanswered, 0 nothing sent. */
static int one_udp(const struct sockaddr_in *a)
{
	char buf[64] = "connaudit storm udp exchange....";
	struct timeval tv = { .tv_sec = 1 };
	int s = socket(AF_INET, SOCK_DGRAM, 0), r = 0;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(s, buf, 32, 0, (const struct sockaddr *)a, sizeof(*a)) == 32)
		r = recv(s, buf, sizeof(buf), 0) > 0 ? 1 : -1;
	close(s);
	return r;
}

static int userve(int port, int workers)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (bind(s, (struct sockaddr *)&a, sizeof(a))) {
		perror("storm userve: bind");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	for (int i = 1; i < workers; i++)
		if (fork() == 0)
			break;
	for (;;) {
		char buf[2048];
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &len);
		if (n >= 0)
			sendto(s, buf, n, 0, (struct sockaddr *)&peer, len);
	}
}

static int client(const char *addr, int port, double seconds, int workers, long max, double rate, int (*one)(const struct sockaddr_in *))
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	long *counts = mmap(NULL, sizeof(long) * 2 * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double start = now();
	long total = 0, failed = 0;
	long per_worker = max > 0 ? (max + workers - 1) / workers : 0;
	double gap = rate > 0 ? workers / rate : 0; /* seconds between connects of one worker */

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "storm client: bad address %s\n", addr);
		return 2;
	}
	for (int w = 0; w < workers; w++) {
		if (fork() != 0)
			continue;
		long mine = max > 0 ? (w == workers - 1 ? max - per_worker * (workers - 1) : per_worker) : 0;
		double next = now();
		while (now() - start < seconds && (max == 0 || counts[w] + counts[workers + w] < mine)) {
			if (gap > 0) {
				double t = now();
				if (t < next) {
					struct timespec ts = { .tv_sec = (time_t)(next - t), .tv_nsec = (long)((next - t - (time_t)(next - t)) * 1e9) };
					nanosleep(&ts, NULL);
				}
				next += gap;
			}
			int r = one(&a);
			if (r > 0)
				counts[w]++;
			else if (r < 0)
				counts[workers + w]++;
		}
		_exit(0);
	}
	while (wait(NULL) > 0)
		;
	for (int w = 0; w < workers; w++) {
		total += counts[w];
		failed += counts[workers + w];
	}
	printf("connections %ld seconds %.3f failed %ld\n", total, now() - start, failed);
	return 0;
}

static int hold(const char *addr, int port, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int *fds = calloc(n, sizeof(int));
	double start = now();
	long ok = 0, failed = 0;

	if (!fds || inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "storm hold: bad address %s or out of memory\n", addr);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fds[i], (struct sockaddr *)&a, sizeof(a)) == 0) {
			ok++;
		} else {
			if (sent_syn(errno))
				failed++;
			close(fds[i]);
			fds[i] = -1;
		}
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("connections %ld seconds %.3f failed %ld\n", ok, now() - start, failed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 6 && argc <= 8 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), argc > 6 ? atol(argv[6]) : 0, argc > 7 ? atof(argv[7]) : 0, one_tcp);
	if (argc == 4 && !strcmp(argv[1], "userve"))
		return userve(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 6 && argc <= 8 && !strcmp(argv[1], "uclient"))
		return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), argc > 6 ? atol(argv[6]) : 0, argc > 7 ? atof(argv[7]) : 0, one_udp);
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return hold(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: storm serve PORT WORKERS | storm client ADDR PORT SECONDS WORKERS [MAX [RATE]] | storm hold ADDR PORT N\n"
			"       storm userve PORT WORKERS | storm uclient ADDR PORT SECONDS WORKERS [MAX [RATE]]\n");
	return 2;
}
