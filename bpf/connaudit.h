/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one struct shared by the kernel program (connaudit.bpf.c) and the
 * TypeScript decoder (agent/event-decoder.ts). Fixed-width types, widest
 * first, explicit padding: agent/event-decoder.ts keeps an offsets table and
 * test/integration/btf-layout.test.ts compares it (and the enum values below)
 * with the BTF of the built object, so any edit here that is not mirrored
 * there fails the tests. Constants the agent must agree on are enums, not
 * #defines, because only enums reach BTF.
 */
#ifndef CONNAUDIT_H
#define CONNAUDIT_H

enum ca_sizes {
	CA_COMM_LEN = 16,
	CA_ADDR_LEN = 16,
	CA_EVENT_SIZE = 200,
	CA_UDP_KEY_SIZE = 32,
	CA_CONFIG_SIZE = 312,
	CA_MAX_IGNORED_PORTS = 16,
	CA_MAX_IGNORED_CIDRS4 = 8,
	CA_MAX_IGNORED_CIDRS6 = 8,
	CA_MAX_NETNS = 8,
};

/*
 * ca_event.states: bit (1 << TCP_STATE) for every state the socket entered,
 * TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11 as in include/net/tcp_states.h.
 * ca_event.flags: facts that are not states.
 */
enum ca_flag {
	CA_F_ACTIVE = 1u << 0,         /* active open (connect): direction egress */
	CA_F_NO_OWNER = 1u << 2,       /* no owning process known (see agent/record-builder.ts reasons) */
	CA_F_SAMPLED = 1u << 3,        /* tracked only by 1-in-N sampling above the rate limit */
	CA_F_CLOSED = 1u << 4,         /* reached TCP_CLOSE, waiting for tcp_destroy_sock */
	CA_F_RST_SENT_FIRST = 1u << 5, /* the first RST of the connection was ours */
	CA_F_BYTES_FRESH = 1u << 6,    /* bytes/srtt were refreshed by refresh_bytes (interim) */
	CA_F_PEER_FIN = 1u << 7,       /* the peer's FIN arrived (SOCK_DONE at close) */
	CA_F_ALL_ACKED = 1u << 8,      /* snd_una == write_seq at close: all we sent, FIN included, was acked */
	CA_F_PREEXISTING = 1u << 9,    /* open before the agent started: seeded by the start-up scan */
	CA_F_DIR_GUESSED = 1u << 10,   /* pre-existing: direction inferred from the listening ports */
	CA_F_OWNER_GONE = 1u << 11,    /* pre-existing: no process held the socket's fd at start */
	CA_F_UDP = 1u << 12,           /* a UDP flow (bpf/udp.bpf.c): states/TCP counters unused; CLOSED = socket released */
};

/*
 * Indexes of the per-CPU stats array. Every connection the sensor sees ends
 * in exactly one of: a record, FILTERED, SAMPLED_OUT, UNTRACKED_* or
 * RINGBUF_DROPS, so records + these counters == connections.
 */
enum ca_stat {
	CA_STAT_RINGBUF_DROPS = 0,      /* record built, ring buffer full */
	CA_STAT_FILTERED = 1,           /* configured filters (by design, not loss) */
	CA_STAT_SAMPLED_OUT = 2,        /* over the rate limit, not sampled */
	CA_STAT_UNTRACKED_MAP_FULL = 3, /* socks map at max_entries (E2BIG) */
	CA_STAT_UNTRACKED_NOMEM = 4,    /* kernel allocation failed (ENOMEM) */
	CA_STAT_UNTRACKED_OTHER = 5,    /* any other map update error */
	CA_STAT_STALE_REPLACED = 6,     /* EEXIST: entry of a dead socket at a reused address replaced (not loss) */
	CA_STAT_MAX = 8,
};

/* What the start-up scan writes (one byte per socket) to the iterator's seq file. */
enum ca_seed_mark {
	CA_SEED_LISTENER = 'L',
	CA_SEED_LISTENER_NO_OWNER = 'l',
	CA_SEED_CONN = 'C',
	CA_SEED_CONN_NO_OWNER = 'c',
	CA_SEED_NOT_TRACKED = 'x', /* map update failed: counted in stats as well */
};

/*
 * One connection. The same struct is the value of the per-socket state map
 * (so the agent's interim walk decodes map values with the same decoder) and
 * the ring-buffer record.
 */
struct ca_event {
	__u64 sock_id;        /* kernel struct sock address: the map key, part of conn_uid */
	__u64 start_ns;       /* bpf_ktime_get_boot_ns when first seen (the scan time if pre-existing) */
	__u64 syn_ns;         /* SYN sent (egress) */
	__u64 established_ns; /* entered ESTABLISHED (0 if pre-existing) */
	__u64 end_ns;         /* entered CLOSE */
	__u64 cgroup_id;      /* owner's cgroup v2 id */
	__u64 bytes_acked;    /* tcp_sock.bytes_acked: our payload the peer acknowledged */
	__u64 bytes_received; /* tcp_sock.bytes_received */
	__u32 netns;          /* network namespace inode */
	__u32 pid;            /* owner tgid */
	__u32 tid;            /* owner thread id */
	__u32 ppid;           /* owner's parent tgid */
	__u32 uid;
	__u32 srtt_us;        /* smoothed RTT (tcp_sock.srtt_us >> 3) */
	__u32 retransmits;    /* tcp_retransmit_skb after the handshake */
	__u32 syn_retransmits;/* tcp_retransmit_skb in SYN_SENT */
	__u32 rst_sent;
	__u32 rst_received;
	__u32 states;         /* visited-state bits, see above */
	__u32 flags;          /* enum ca_flag */
	__u32 handshake_us;   /* ingress: kernel's SYN-ACK RTT measured at ESTABLISHED */
	__u16 sport;          /* local port, host order */
	__u16 dport;          /* remote port, host order */
	__u16 family;         /* AF_INET (2) or AF_INET6 (10); v4-mapped comes out as AF_INET */
	__u16 sk_err;         /* sk_err at close: ETIMEDOUT, ECONNREFUSED, ECONNRESET ... */
	__u8 pad0[4];
	__u8 saddr[CA_ADDR_LEN]; /* local address (4 bytes used for AF_INET) */
	__u8 daddr[CA_ADDR_LEN]; /* remote address */
	char comm[CA_COMM_LEN];  /* owner's task comm */
	/* UDP flows only (zero for TCP): datagrams each way (a GSO send counts
	 * its segments) and the boot time of the last one, which the agent's
	 * idle timeout reads. A UDP flow's payload bytes are in bytes_acked
	 * (ours) and bytes_received (the peer's). */
	__u64 pkts_sent;
	__u64 pkts_received;
	__u64 last_ns;
};

/*
 * One UDP flow: a socket (its cookie, never reused while the host is up) and
 * one peer. The agent rebuilds this key from a flow's ca_event (sock_id,
 * daddr, dport, family) to delete the flow after its idle-timeout record.
 */
struct ca_udp_key {
	__u64 cookie;
	__u8 addr[CA_ADDR_LEN]; /* peer address (4 bytes used for AF_INET) */
	__u16 port;             /* peer port, host order */
	__u16 family;
	__u32 pad;
};

/* Owner of a listening socket, copied to each accepted child. */
struct ca_owner {
	__u64 sock_id;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	char comm[CA_COMM_LEN];
};

struct ca_listen_key {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

/*
 * Everything the agent sets before load, as one const volatile struct so the
 * agent writes .rodata as a single blob at a known layout (also checked by the
 * BTF layout test).
 */
struct ca_config {
	__u64 rate_per_sec;   /* new tracked connections per second per CPU; 0 = unlimited */
	__u64 rate_burst;     /* bucket size */
	__u32 sample_n;       /* above the rate, track 1 in N (0 = none) */
	__u32 ignore_loopback;
	__u32 n_ports;
	__u32 n_cidrs4;
	__u32 n_cidrs6;
	__u32 pad0;
	__u16 ports[CA_MAX_IGNORED_PORTS];
	__u32 cidr4_addr[CA_MAX_IGNORED_CIDRS4]; /* network order */
	__u32 cidr4_mask[CA_MAX_IGNORED_CIDRS4]; /* network order */
	__u8 cidr6_addr[CA_MAX_IGNORED_CIDRS6][16]; /* prefix bits kept, rest zero */
	__u8 cidr6_plen[CA_MAX_IGNORED_CIDRS6];
	__u32 n_netns;        /* 0 = every namespace; else only these (an agent per tenant, or a test lab) */
	__u32 netns[CA_MAX_NETNS];
	__u32 pad1;
};

#endif /* CONNAUDIT_H */
