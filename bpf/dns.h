/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * DNS transactions seen by the sensor: the struct shared by bpf/dns.bpf.c and
 * the TypeScript decoder (agent/dns-decoder.ts, offsets checked against BTF by
 * test/integration/btf-layout.test.ts like connaudit.h). One event is one DNS
 * message: a query our host sent to port 53, or the answer it received from
 * port 53. The agent joins them (agent/dns-join.ts).
 *
 * What of the message reaches user space: msg[] holds the header, the
 * question section and the answer section only (the authority and additional
 * sections are never copied), and the RDATA of every answer whose type is not
 * A, AAAA or CNAME is zeroed in the kernel. The agent decodes from that the
 * id, QR, RCODE, the counts, the first question's name and type, and the
 * A/AAAA/CNAME answers (name, type, ttl, data).
 */
#ifndef CONNAUDIT_DNS_H
#define CONNAUDIT_DNS_H

enum ca_dns_sizes {
	CA_DNS_MSG_MAX = 512,      /* bytes of a message looked at (the classic UDP DNS limit) */
	CA_DNS_MAX_ANSWERS = 16,   /* answer records walked; later ones are not read (CA_DNS_F_CUT) */
	CA_DNS_MAX_LABELS = 64,    /* labels walked per name */
	CA_DNS_EVENT_SIZE = 624,
	CA_DNS_OWNER_SIZE = 40,
};

enum ca_dns_flag {
	CA_DNS_F_ANSWER = 1u << 0, /* ingress answer from port 53 (else an egress query to port 53) */
	CA_DNS_F_TCP = 1u << 1,    /* DNS over TCP (else UDP) */
	CA_DNS_F_OWNER = 1u << 2,  /* the querying process is known (recorded at connect/sendmsg) */
	CA_DNS_F_CUT = 1u << 3,    /* answers past CA_DNS_MSG_MAX bytes or CA_DNS_MAX_ANSWERS were not read */
};

/* Indexes of the per-CPU dns_stats array: every DNS message seen on port 53
 * ends as exactly one of QUERIES, ANSWERS, RINGBUF_DROPS, PARSE_ERRORS,
 * TCP_SKIPPED or FILTERED (OWNER_NOMEM counts sockets, not messages). Only
 * the namespace filter applies to DNS: the address filters would hide the
 * query to a local stub resolver (127.0.0.53), the one that names the
 * process. */
enum ca_dns_stat {
	CA_DNS_STAT_QUERIES = 0,        /* query events emitted */
	CA_DNS_STAT_ANSWERS = 1,        /* answer events emitted */
	CA_DNS_STAT_RINGBUF_DROPS = 2,  /* dns_events full: the message is lost */
	CA_DNS_STAT_PARSE_ERRORS = 3,   /* port 53 payload that is not a DNS message we can read */
	CA_DNS_STAT_TCP_SKIPPED = 4,    /* TCP segment on port 53 not starting a message (continuation) */
	CA_DNS_STAT_OWNER_NOMEM = 5,    /* could not remember the querying process (sk storage full) */
	CA_DNS_STAT_FILTERED = 6,       /* in a namespace sensor.only_netns leaves out (by design, not loss) */
	CA_DNS_STAT_MAX = 8,
};

/* The querying process, stored per socket at connect()/sendmsg() to port 53. */
struct ca_dns_owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[16];
};

struct ca_dns_event {
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns */
	__u64 cookie;     /* socket cookie: joins a query with its answer */
	__u64 cgroup_id;  /* owner's cgroup (0 unless CA_DNS_F_OWNER) */
	__u32 netns;      /* network namespace inode */
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 flags;      /* enum ca_dns_flag */
	__u16 lport;      /* our port, host order */
	__u16 rport;      /* the resolver's port (53) */
	__u16 family;     /* AF_INET or AF_INET6 */
	__u16 msg_len;    /* bytes of msg[] that are valid */
	__u16 wire_len;   /* the message's length on the wire */
	__u8 pad0[6];
	__u8 laddr[16];   /* our address */
	__u8 raddr[16];   /* the resolver's address */
	char comm[16];
	__u8 msg[CA_DNS_MSG_MAX];
};

#endif /* CONNAUDIT_DNS_H */
