/* A paced UDP sender for the live-capture benchmark: udp-flood <dst-ipv4> <first-port> <pps> <seconds> <flows>.
 * Sends 18-byte datagrams with sendmmsg in batches, rotating the destination port over <flows> ports, and prints
 * "sent=N". Run it only inside a network namespace the benchmark created, towards an address in another one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: udp-flood <dst-ipv4> <first-port> <pps> <seconds> <flows>\n");
    return 2;
  }
  const int first_port = atoi(argv[2]);
  const double pps = atof(argv[3]);
  const double seconds = atof(argv[4]);
  const int flows = atoi(argv[5]) > 0 ? atoi(argv[5]) : 1;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  struct sockaddr_in dst[BATCH];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  char payload[18] = "shadowflow-bench!";
  memset(msgs, 0, sizeof(msgs));
  for (int i = 0; i < BATCH; i++) {
    memset(&dst[i], 0, sizeof(dst[i]));
    dst[i].sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[1], &dst[i].sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    iov[i].iov_base = payload;
    iov[i].iov_len = sizeof(payload);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dst[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(dst[i]);
  }
  const double start = now_s();
  long long sent = 0;
  const long long total = (long long)(pps * seconds);
  while (sent < total) {
    const double elapsed = now_s() - start;
    long long due = (long long)(elapsed * pps);
    if (due > total) due = total;
    if (due <= sent) {
      struct timespec nap = {0, 200000};  /* 0.2 ms */
      nanosleep(&nap, NULL);
      continue;
    }
    int n = (int)(due - sent < BATCH ? due - sent : BATCH);
    for (int i = 0; i < n; i++) dst[i].sin_port = htons((uint16_t)(first_port + (sent + i) % flows));
    int rc = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (rc < 0) { perror("sendmmsg"); return 1; }
    sent += rc;
  }
  printf("sent=%lld seconds=%.3f\n", sent, now_s() - start);
  return 0;
}
