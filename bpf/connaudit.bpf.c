// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * connaudit sensor: one record per TCP connection, built from raw BTF
 * tracepoints only (no kprobes/fentry on these hosts, and tracefs is not
 * mounted, so classic tracepoint/ attach is not available either).
 *
 * Lifecycle of one entry in `socks` (keyed by the struct sock address):
 *   created   CLOSE->SYN_SENT (connect(), task context: owner = current)
 *             LISTEN->SYN_RECV of an accepted child (softirq: owner = listener's owner)
 *   updated   every state change, retransmit and RST
 *   closed    ->CLOSE: timing, bytes, srtt and sk_err are frozen (CA_F_CLOSED)
 *   emitted   tcp_destroy_sock: the record goes to the ring buffer, the entry is deleted
 *   seeded    at agent start, the seed_tcp iterator adds sockets that already
 *             exist (listeners to `listeners`, connections to `socks`), taking
 *             owners the agent found in /proc from `seed_owners`
 *
 * Why emit at destroy and not at CLOSE: an abortive close (SO_LINGER 0,
 * tcp_disconnect) sets TCP_CLOSE *before* it sends the RST, so a record cut at
 * CLOSE would miss our own reset and misreport RSTO. inet_csk_destroy_sock
 * always runs after CLOSE, once the kernel is done with the socket. A socket
 * whose owner keeps a dead fd open is destroyed late; the agent's map walk
 * emits such entries after a grace period (agent/interim.ts) so nothing waits
 * forever.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "connaudit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

_Static_assert(sizeof(struct ca_event) == CA_EVENT_SIZE, "CA_EVENT_SIZE is stale");
_Static_assert(sizeof(struct ca_config) == CA_CONFIG_SIZE, "CA_CONFIG_SIZE is stale");
_Static_assert(sizeof(struct ca_udp_key) == CA_UDP_KEY_SIZE, "CA_UDP_KEY_SIZE is stale");

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#define NSEC_PER_SEC 1000000000ULL
/* Wake the agent once this much is queued (64 records). */
#define CA_WAKEUP_BYTES (64 * (CA_EVENT_SIZE + 8))

/* Set by the agent before load (agent/libbpf.ts writes .rodata). */
const volatile struct ca_config cfg = {};

/* max_entries of socks, listeners and seed_owners are defaults: the agent
 * sets them from its config (map_sizes) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct ca_event);
} socks SEC(".maps");

/*
 * Owner of each listening port, per network namespace. Accepted children are
 * created in softirq, where `current` is whatever task the packet interrupted,
 * so their owner is copied from here. Limitation: with SO_REUSEPORT groups (or
 * two processes listening on the same port in one netns) the last listen()
 * wins, and a pre-forking server is attributed to the process that called
 * listen(), not to the worker that accept()ed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ca_listen_key);
	__type(value, struct ca_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); /* default; the agent sets sensor.ring_buffer_bytes */
} events SEC(".maps");

/* Socket inode -> owning process, filled by the agent from /proc/PID/fd just
 * before the start-up scan and emptied after it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ca_owner);
} seed_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CA_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* clang writes to BTF only the types something uses; this one-slot map keeps
 * the enums the agent mirrors there, so the layout test can compare them. */
struct ca_btf_anchor {
	enum ca_sizes sizes;
	enum ca_flag flag;
	enum ca_stat stat;
	enum ca_seed_mark mark;
	struct ca_udp_key udp_key; /* the agent rebuilds these keys (agent/event-decoder.ts UDP_KEY_LAYOUT) */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ca_btf_anchor);
} btf_anchor SEC(".maps");

struct ca_bucket {
	__u64 credit_ns; /* tokens scaled by NSEC_PER_SEC, so refill needs no division */
	__u64 last_ns;
	__u64 over;      /* connections seen above the rate, for 1-in-N sampling */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ca_bucket);
} bucket SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* Per-CPU token bucket; returns 0 to drop, 1 to track, 2 to track as a sample. */
static __always_inline int rate_admit(void)
{
	__u32 zero = 0;
	struct ca_bucket *b;
	__u64 now, elapsed, cap;

	if (cfg.rate_per_sec == 0)
		return 1;
	b = bpf_map_lookup_elem(&bucket, &zero);
	if (!b)
		return 1;
	now = bpf_ktime_get_boot_ns();
	elapsed = now - b->last_ns;
	if (elapsed > 10 * NSEC_PER_SEC) /* bound the product below against overflow */
		elapsed = 10 * NSEC_PER_SEC;
	cap = cfg.rate_burst * NSEC_PER_SEC;
	b->credit_ns += elapsed * cfg.rate_per_sec;
	if (b->credit_ns > cap)
		b->credit_ns = cap;
	b->last_ns = now;
	if (b->credit_ns >= NSEC_PER_SEC) {
		b->credit_ns -= NSEC_PER_SEC;
		return 1;
	}
	b->over++;
	/* Sampled connections are not counted here: their records carry
	 * CA_F_SAMPLED, so the analyst sees it on each one. */
	if (cfg.sample_n && b->over % cfg.sample_n == 0)
		return 2;
	stat_inc(CA_STAT_SAMPLED_OUT);
	return 0;
}

/*
 * tp_btf hands us BTF-typed pointers, so fields are read with plain loads
 * (CO-RE relocated) instead of one bpf_probe_read_kernel call each: that is
 * most of the difference between ~350 ns and ~150 ns per state change. The
 * inet_sock/tcp_sock view comes from bpf_skc_to_tcp_sock, which the verifier
 * accepts as a typed pointer; a plain C cast would not be.
 */
static __always_inline void read_addrs(struct ca_event *e, const struct sock *sk, const struct tcp_sock *tp)
{
	__u16 family = sk->__sk_common.skc_family;

	/* inet_sport, not skc_num: the tracepoint fires from inet_sk_state_store,
	 * after TCP_CLOSE has released the bind bucket and zeroed inet_num, while
	 * inet_sport keeps the port. A connect() has no port yet at SYN_SENT, so
	 * a zero never overwrites a port seen earlier. */
	__u16 sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	__u16 dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (sport)
		e->sport = sport;
	if (dport)
		e->dport = dport;
	if (family == AF_INET6) {
		__u32 d0 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		__u32 d1 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		__u32 d2 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		/* A dual-stack socket talking IPv4 carries ::ffff:a.b.c.d; the
		 * kernel also fills the v4 fields then, so report plain IPv4. */
		if (d0 == 0 && d1 == 0 && d2 == bpf_htonl(0xffff)) {
			family = AF_INET;
		} else {
			__u32 *s = (__u32 *)e->saddr, *d = (__u32 *)e->daddr;
			d[0] = d0;
			d[1] = d1;
			d[2] = d2;
			d[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
			s[0] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[0];
			s[1] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[1];
			s[2] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[2];
			s[3] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3];
		}
	}
	if (family == AF_INET) {
		*(__u32 *)e->saddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)e->daddr = sk->__sk_common.skc_daddr;
	}
	e->family = family;
}

static __always_inline int port_ignored(__u16 port)
{
	for (int i = 0; i < CA_MAX_IGNORED_PORTS; i++) {
		if (i >= cfg.n_ports)
			break;
		if (port != 0 && cfg.ports[i] == port)
			return 1;
	}
	return 0;
}

static __always_inline int v6_match(const __u8 *addr, int k)
{
	int plen = cfg.cidr6_plen[k & 7];

	for (int j = 0; j < 16; j++) {
		int bits = plen - 8 * j;
		__u8 mask;
		if (bits <= 0)
			break;
		mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((addr[j] & mask) != cfg.cidr6_addr[k & 7][j])
			return 0;
	}
	return 1;
}

static __always_inline int netns_ignored(__u32 netns)
{
	if (cfg.n_netns == 0)
		return 0;
	for (int i = 0; i < CA_MAX_NETNS; i++) {
		if (i >= cfg.n_netns)
			break;
		if (cfg.netns[i] == netns)
			return 0;
	}
	return 1;
}

/* Filters look at the namespace, the remote address and both ports. */
static __always_inline int ignored(const struct ca_event *e)
{
	if (netns_ignored(e->netns))
		return 1;
	if (port_ignored(e->sport) || port_ignored(e->dport))
		return 1;
	if (e->family == AF_INET) {
		__u32 a;
		__builtin_memcpy(&a, e->daddr, 4);
		if (cfg.ignore_loopback && (a & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000))
			return 1;
		for (int i = 0; i < CA_MAX_IGNORED_CIDRS4; i++) {
			if (i >= cfg.n_cidrs4)
				break;
			if ((a & cfg.cidr4_mask[i]) == cfg.cidr4_addr[i])
				return 1;
		}
		return 0;
	}
	if (cfg.ignore_loopback) {
		__u64 hi, lo;
		__builtin_memcpy(&hi, e->daddr, 8);
		__builtin_memcpy(&lo, e->daddr + 8, 8);
		if (hi == 0 && lo == bpf_cpu_to_be64(1))
			return 1;
	}
	for (int i = 0; i < CA_MAX_IGNORED_CIDRS6; i++) {
		if (i >= cfg.n_cidrs6)
			break;
		if (v6_match(e->daddr, i))
			return 1;
	}
	return 0;
}

static __always_inline __u32 netns_of(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/* Only valid in task context (connect/listen syscalls). */
static __always_inline void owner_from_current(__u64 *cgroup_id, __u32 *pid, __u32 *tid, __u32 *ppid, __u32 *uid, char *comm)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct task_struct *task = bpf_get_current_task_btf();

	*pid = pt >> 32;
	*tid = (__u32)pt;
	*uid = (__u32)bpf_get_current_uid_gid();
	*cgroup_id = bpf_get_current_cgroup_id();
	*ppid = task->real_parent->tgid;
	bpf_get_current_comm(comm, CA_COMM_LEN);
}

static __always_inline void copy_owner(struct ca_event *e, const struct ca_owner *o)
{
	e->pid = o->pid;
	e->tid = o->tid;
	e->ppid = o->ppid;
	e->uid = o->uid;
	e->cgroup_id = o->cgroup_id;
	__builtin_memcpy(e->comm, o->comm, CA_COMM_LEN);
}

/* Ring buffer record of one finished connection. Waking the agent costs
 * ~3 us (irq_work + epoll) against ~0.2 us for the rest, so only the record
 * that brings the backlog to CA_WAKEUP_BYTES wakes it: one wakeup per batch,
 * however far behind the agent is (forcing a wakeup on every record above the
 * mark cost several us per record exactly when the agent was busiest). If two
 * CPUs step over the mark together and neither wakes it, the agent's poll
 * timeout picks the batch up. */
static __always_inline void emit(const struct ca_event *e)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	long wake = avail < CA_WAKEUP_BYTES && avail + CA_EVENT_SIZE + 8 >= CA_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	struct ca_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		stat_inc(CA_STAT_RINGBUF_DROPS);
		return;
	}
	__builtin_memcpy(r, e, sizeof(*r));
	bpf_ringbuf_submit(r, wake);
}

/* Counts a failed insert into socks by its cause: only E2BIG and ENOMEM mean
 * the map or the kernel ran out of room. */
static __always_inline void count_untracked(long err)
{
	if (err == -E2BIG)
		stat_inc(CA_STAT_UNTRACKED_MAP_FULL);
	else if (err == -ENOMEM)
		stat_inc(CA_STAT_UNTRACKED_NOMEM);
	else
		stat_inc(CA_STAT_UNTRACKED_OTHER);
}

static __always_inline long insert(__u64 id, const struct ca_event *e)
{
	long err = bpf_map_update_elem(&socks, &id, e, BPF_NOEXIST);

	if (err != -EEXIST)
		return err;
	/* An entry at this address while a new connection starts there means the
	 * old socket is gone without tcp_destroy_sock: a connect() retried on
	 * the same fd after a failed attempt (tcp_disconnect keeps the sock), or
	 * a child freed before it was fully set up. A closed entry is a complete
	 * record: send it, then take the slot. */
	struct ca_event *old = bpf_map_lookup_elem(&socks, &id);
	if (old && (old->flags & CA_F_CLOSED))
		emit(old);
	stat_inc(CA_STAT_STALE_REPLACED);
	return bpf_map_update_elem(&socks, &id, e, BPF_ANY);
}

static __always_inline void track(__u64 id, struct ca_event *e)
{
	int admit;
	long err;

	if (ignored(e)) {
		stat_inc(CA_STAT_FILTERED);
		return;
	}
	admit = rate_admit();
	if (admit == 0)
		return;
	if (admit == 2)
		e->flags |= CA_F_SAMPLED;
	err = insert(id, e);
	if (err)
		count_untracked(err);
}

static __always_inline void on_active_open(const struct sock *sk, const struct tcp_sock *tp, __u64 now)
{
	struct ca_event e = {};
	__u64 id = (__u64)sk;

	e.sock_id = id;
	e.start_ns = now;
	e.syn_ns = now;
	e.netns = netns_of(sk);
	e.states = 1u << TCP_SYN_SENT;
	e.flags = CA_F_ACTIVE;
	owner_from_current(&e.cgroup_id, &e.pid, &e.tid, &e.ppid, &e.uid, e.comm);
	read_addrs(&e, sk, tp); /* the local port is not picked yet: read again later */
	track(id, &e);
}

static __always_inline void on_passive_open(const struct sock *sk, const struct tcp_sock *tp, __u64 now)
{
	struct ca_event e = {};
	struct ca_listen_key key = {};
	struct ca_owner *o;
	__u64 id = (__u64)sk;

	e.sock_id = id;
	e.start_ns = now;
	e.netns = netns_of(sk);
	e.states = 1u << TCP_SYN_RECV;
	read_addrs(&e, sk, tp);
	key.netns = e.netns;
	key.port = e.sport;
	o = bpf_map_lookup_elem(&listeners, &key);
	if (o)
		copy_owner(&e, o);
	else
		e.flags = CA_F_NO_OWNER;
	track(id, &e);
}

static __always_inline void on_listen(const struct sock *sk)
{
	struct ca_listen_key key = {};
	struct ca_owner o = {};

	key.netns = netns_of(sk);
	key.port = sk->__sk_common.skc_num;
	o.sock_id = (__u64)sk;
	owner_from_current(&o.cgroup_id, &o.pid, &o.tid, &o.ppid, &o.uid, o.comm);
	bpf_map_update_elem(&listeners, &key, &o, BPF_ANY);
}

static __always_inline void on_unlisten(const struct sock *sk)
{
	struct ca_listen_key key = {};
	struct ca_owner *o;

	/* A SO_REUSEPORT member closing says nothing about the others in its
	 * group, which keep accepting on this port: keep the owner. A stale entry
	 * is harmless (nothing is accepted on a port nobody listens on) and the
	 * next listen() on the port overwrites it. */
	if (BPF_CORE_READ_BITFIELD(sk, __sk_common.skc_reuseport))
		return;
	key.netns = netns_of(sk);
	key.port = sk->__sk_common.skc_num;
	o = bpf_map_lookup_elem(&listeners, &key);
	/* Another socket may have taken the port over since: keep its owner. */
	if (o && o->sock_id == (__u64)sk)
		bpf_map_delete_elem(&listeners, &key);
}

static __always_inline void on_close(struct ca_event *e, const struct sock *sk, const struct tcp_sock *tp, __u64 now)
{
	e->end_ns = now;
	e->bytes_acked = tp->bytes_acked;
	e->bytes_received = tp->bytes_received;
	e->srtt_us = tp->srtt_us >> 3;
	e->sk_err = sk->sk_err;
	/* bytes_acked/bytes_received count sequence space, so SYN and FIN are in
	 * them; these two facts let the agent subtract the FINs exactly. SOCK_DONE
	 * is set by tcp_fin() only (close() sets sk_shutdown, so that cannot tell). */
	if (sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		e->flags |= CA_F_PEER_FIN;
	if (tp->snd_una == tp->write_seq)
		e->flags |= CA_F_ALL_ACKED;
	e->flags |= CA_F_CLOSED;
	read_addrs(e, sk, tp);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 id = (__u64)sk;
	const struct tcp_sock *tp;
	__u64 now;
	struct ca_event *e;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_LISTEN) {
		on_listen(sk);
		return 0;
	}
	if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		on_unlisten(sk);
		return 0;
	}
	if ((oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) || (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV)) {
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (!tp)
			return 0;
		if (newstate == TCP_SYN_SENT)
			on_active_open(sk, tp, bpf_ktime_get_boot_ns());
		else
			on_passive_open(sk, tp, bpf_ktime_get_boot_ns());
		return 0;
	}
	e = bpf_map_lookup_elem(&socks, &id);
	if (!e)
		return 0;
	if (newstate >= 0 && newstate < 32)
		e->states |= 1u << newstate;
	/* Most transitions only add their state bit: the typed tcp_sock view
	 * (a helper call) is needed only for the two that read it. */
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return 0;
	if (newstate == TCP_ESTABLISHED) {
		e->established_ns = bpf_ktime_get_boot_ns();
		/* The local port of a connect() is known from here on; the
		 * addresses were complete at open. */
		e->sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
		/* The SYN of a passive open was held by a request sock we never
		 * see; the kernel's SYN-ACK RTT (srtt seeded at this point) is
		 * the server side's view of the handshake. */
		if (!(e->flags & CA_F_ACTIVE))
			e->handshake_us = tp->srtt_us >> 3;
	} else {
		now = bpf_ktime_get_boot_ns();
		on_close(e, sk, tp, now);
		if (port_ignored(e->sport)) { /* the local port of a connect() is known only now */
			stat_inc(CA_STAT_FILTERED);
			bpf_map_delete_elem(&socks, &id);
		}
	}
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, const struct sock *sk)
{
	__u64 id = (__u64)sk;
	struct ca_event *e = bpf_map_lookup_elem(&socks, &id);

	if (!e)
		return 0;
	emit(e);
	bpf_map_delete_elem(&socks, &id);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 id = (__u64)sk;
	struct ca_event *e = bpf_map_lookup_elem(&socks, &id);

	if (!e)
		return 0;
	if (sk->__sk_common.skc_state == TCP_SYN_SENT)
		__sync_fetch_and_add(&e->syn_retransmits, 1);
	else
		__sync_fetch_and_add(&e->retransmits, 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 id = (__u64)sk;
	struct ca_event *e;

	if (!sk) /* reset for a segment that matched no socket */
		return 0;
	e = bpf_map_lookup_elem(&socks, &id);
	if (!e)
		return 0;
	if (e->rst_sent == 0 && e->rst_received == 0)
		e->flags |= CA_F_RST_SENT_FIRST;
	__sync_fetch_and_add(&e->rst_sent, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_receive_reset, const struct sock *sk)
{
	__u64 id = (__u64)sk;
	struct ca_event *e = bpf_map_lookup_elem(&socks, &id);

	if (!e)
		return 0;
	__sync_fetch_and_add(&e->rst_received, 1);
	return 0;
}

/*
 * Interim byte counts. Nothing fires on a healthy idle-or-busy connection
 * without adding a per-packet hook, so instead the agent runs this program
 * (never attached; BPF_PROG_TEST_RUN) just before each interim walk. It reads
 * bytes_acked, bytes_received and srtt of every open tracked socket. TCP
 * sockets are SLAB_TYPESAFE_BY_RCU and this runs under RCU, so a socket that
 * closes concurrently is still a tcp_sock; at worst its final record (which
 * re-reads everything at CLOSE) supersedes a slightly stale snapshot. The
 * address in the map is a plain number here, not a typed pointer, so these
 * reads go through bpf_probe_read_kernel.
 */
static long refresh_one(struct bpf_map *map, __u64 *key, struct ca_event *e, void *ctx)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)(unsigned long)e->sock_id;

	if (e->flags & CA_F_CLOSED)
		return 0;
	e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	e->bytes_received = BPF_CORE_READ(tp, bytes_received);
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	/* A connect()'s local port is assigned after SYN_SENT fired; an interim
	 * record must carry the same 5-tuple (and community_id) as the final. */
	if (!e->sport)
		e->sport = bpf_ntohs(BPF_CORE_READ(tp, inet_conn.icsk_inet.inet_sport));
	e->flags |= CA_F_BYTES_FRESH;
	return 0;
}

SEC("raw_tp")
int refresh_bytes(void *ctx)
{
	bpf_for_each_map_elem(&socks, refresh_one, NULL, 0);
	return 0;
}

/* States that imply the handshake completed. */
#define CA_POST_HANDSHAKE ((1u << TCP_ESTABLISHED) | (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | \
			   (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING))

static __always_inline __u64 socket_ino(const struct sock *sk)
{
	struct socket *so = sk->sk_socket;

	if (!so || !so->file)
		return 0;
	return so->file->f_inode->i_ino;
}

/*
 * The start-up scan: the agent runs this iterator once per network namespace
 * (an iter/tcp walk covers the namespace of the thread that opens it), after
 * the hooks above are attached, so nothing falls between the scan and the
 * hooks. It never overwrites: a listen() or connect() seen by a hook since
 * attach is fresher than the scan. Owners come from seed_owners (socket
 * inode -> process, from /proc/PID/fd); a connection still in the accept
 * queue has no fd yet and takes its listener's owner.
 */
SEC("iter/tcp")
int seed_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct seq_file *seq = ctx->meta->seq;
	struct ca_listen_key key = {};
	struct ca_event e = {};
	struct ca_owner *o, *lo;
	struct tcp_sock *tp;
	struct sock *sk;
	__u64 ino;
	int state;
	char mark;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp) /* time-wait and request socks: no full socket, no owner */
		return 0;
	sk = &tp->inet_conn.icsk_inet.sk;
	state = sk->__sk_common.skc_state;
	if (state == TCP_CLOSE)
		return 0;
	ino = socket_ino(sk);
	o = ino ? bpf_map_lookup_elem(&seed_owners, &ino) : NULL;
	key.netns = netns_of(sk);

	if (state == TCP_LISTEN) {
		struct ca_owner own = {};

		mark = CA_SEED_LISTENER_NO_OWNER;
		if (o) {
			own = *o;
			own.sock_id = (__u64)sk;
			key.port = sk->__sk_common.skc_num;
			bpf_map_update_elem(&listeners, &key, &own, BPF_NOEXIST);
			mark = CA_SEED_LISTENER;
		}
		bpf_seq_write(seq, &mark, 1);
		return 0;
	}

	e.sock_id = (__u64)sk;
	e.start_ns = bpf_ktime_get_boot_ns();
	e.netns = key.netns;
	e.states = 1u << state;
	if (e.states & CA_POST_HANDSHAKE)
		e.states |= 1u << TCP_ESTABLISHED;
	e.flags = CA_F_PREEXISTING;
	read_addrs(&e, sk, tp);
	key.port = e.sport;
	/* The iterator walks listeners before connections, so the listening
	 * ports of this namespace are known here: a connection on one of them
	 * was accepted, any other was connect()ed. */
	lo = bpf_map_lookup_elem(&listeners, &key);
	if (state == TCP_SYN_SENT || (state != TCP_SYN_RECV && !lo))
		e.flags |= CA_F_ACTIVE;
	if (state != TCP_SYN_SENT && state != TCP_SYN_RECV)
		e.flags |= CA_F_DIR_GUESSED;
	if (o) {
		copy_owner(&e, o);
		mark = CA_SEED_CONN;
	} else if (!ino && lo && !(e.flags & CA_F_ACTIVE) && !sk->sk_socket) {
		copy_owner(&e, lo); /* accepted by the kernel, not yet by accept() */
		mark = CA_SEED_CONN;
	} else {
		e.flags |= CA_F_NO_OWNER | (sk->sk_socket ? 0 : CA_F_OWNER_GONE);
		mark = CA_SEED_CONN_NO_OWNER;
	}
	if (ignored(&e)) {
		stat_inc(CA_STAT_FILTERED);
		return 0;
	}
	long err = bpf_map_update_elem(&socks, &e.sock_id, &e, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count_untracked(err);
		mark = CA_SEED_NOT_TRACKED;
	}
	bpf_seq_write(seq, &mark, 1);
	return 0;
}

/* UDP flows share the filters, rate limit, stats and ring buffer above. */
#include "udp.bpf.c"
#include "dns.bpf.c"
