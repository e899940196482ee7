// SPDX-License-Identifier: Apache-2.0
/*
 * Connection storm for agent/bench-sensor.ts: many short TCP connections per
 * second between two network namespaces, to measure the sensor's cost per
 * program run. Not part of the sensor.
 *
 *   storm serve PORT WORKERS              accept and close at once (server FINs first,
 *                                         so TIME_WAIT stays on the server side and
 *                                         the client's ephemeral ports recycle)
 *   storm client ADDR PORT SECONDS WORKERS
 *                                         connect, wait for EOF, close; prints
 *                                         "connections N seconds S"
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

static int client(const char *addr, int port, double seconds, int workers)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	long *counts = mmap(NULL, sizeof(long) * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double start = now();
	long total = 0;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "storm client: bad address %s\n", addr);
		return 2;
	}
	for (int w = 0; w < workers; w++) {
		if (fork() != 0)
			continue;
		char buf[64];
		while (now() - start < seconds) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
				while (read(s, buf, sizeof(buf)) > 0)
					;
				counts[w]++;
			}
			close(s);
		}
		_exit(0);
	}
	while (wait(NULL) > 0)
		;
	for (int w = 0; w < workers; w++)
		total += counts[w];
	printf("connections %ld seconds %.3f\n", total, now() - start);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: storm serve PORT WORKERS | storm client ADDR PORT SECONDS WORKERS\n");
	return 2;
}
