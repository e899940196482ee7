// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * UDP flows: one record per (socket, peer), included from connaudit.bpf.c so
 * it shares the filters, the rate limit, the stats and the ring buffer.
 *
 *   owner     cgroup/connect, sendmsg, recvmsg (the syscall, in the caller's
 *             own task): the process is written into the socket's storage
 *             (udp_socks). Never taken in the packet programs, which may run
 *             in softirq on behalf of whatever task was interrupted.
 *   created   first datagram of a new peer, either way (cgroup_skb): the
 *             flow copies the socket's owner; "egress" if we sent first
 *   counted   every datagram (cgroup_skb egress/ingress): bytes, packets,
 *             time of the last one
 *   owner late  a peer that spoke first to a socket no hook had seen yet
 *             (a server's first recvfrom) gets its owner at that recvmsg
 *   closed    cgroup/sock_release: every flow of the socket goes to the ring
 *             buffer (CA_F_CLOSED = released); or the agent's map walk
 *             (agent/interim.ts) emits a flow idle longer than its timeout
 *             and deletes it. Whoever deletes the entry sends the record, so
 *             a flow never has two finals.
 *
 * The packet programs run on every packet of the host: anything that is not
 * a UDP socket leaves after one helper call and one compare.
 *
 * A flow the filters or the rate limit turn away is remembered in udp_skip
 * (LRU), so it is counted once, not once per datagram; if the LRU evicts it
 * while the flow is still busy it is counted again (FILTERED/SAMPLED_OUT are
 * then an upper bound, never an undercount).
 */

#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif
#define CA_ETH_P_IP 0x0800
#define CA_ETH_P_IPV6 0x86DD
#define CA_SOCK_DGRAM 2

/* What the socket storage keeps per UDP socket. */
struct ca_udp_sock {
	struct ca_owner owner;      /* owner.sock_id = the socket cookie */
	__u32 netns;
	__u32 has_owner;            /* a sock_addr hook saw the owner */
	__u32 flows;                /* flows created so far (release walks the map only if > 1) */
	__u32 pad;
	struct ca_udp_key first;    /* the first flow's key: release needs no map walk for one peer */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ca_udp_sock);
} udp_socks SEC(".maps");

/* max_entries are defaults: the agent sets them (sensor.max_udp_flows). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ca_udp_key);
	__type(value, struct ca_event);
} udp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ca_udp_key);
	__type(value, __u32);
} udp_skip SEC(".maps");

extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym;

/* The socket's network namespace: bpf_sock has no such field, so read it
 * through a read-only typed view of the kernel socket. */
static __always_inline __u32 udp_netns(const void *sk)
{
	const struct sock *ks = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));

	return ks->__sk_common.skc_net.net->ns.inum;
}

static __always_inline void set_owner(struct ca_udp_sock *st)
{
	owner_from_current(&st->owner.cgroup_id, &st->owner.pid, &st->owner.tid, &st->owner.ppid, &st->owner.uid, st->owner.comm);
	st->has_owner = 1;
}

/* The socket's storage with its owner refreshed from the calling task;
 * NULL for anything that is not a UDP socket. */
static __always_inline struct ca_udp_sock *own_socket(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct ca_udp_sock *st;

	if (ctx->protocol != IPPROTO_UDP || ctx->type != CA_SOCK_DGRAM || !sk)
		return NULL;
	st = bpf_sk_storage_get(&udp_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return NULL;
	if (!st->owner.sock_id) {
		st->owner.sock_id = bpf_get_socket_cookie(ctx);
		st->netns = udp_netns(sk);
	}
	/* The same process sending again (the common case: a server answering,
	 * a client in a loop) needs no fresh comm and parent: skip the reads
	 * (a process that exec()s keeps its old comm on sockets it inherited). */
	if (!st->has_owner || st->owner.pid != bpf_get_current_pid_tgid() >> 32)
		set_owner(st);
	return st;
}

SEC("cgroup/connect4")
int udp_connect4(struct bpf_sock_addr *ctx)
{
	own_socket(ctx);
	return 1;
}

SEC("cgroup/connect6")
int udp_connect6(struct bpf_sock_addr *ctx)
{
	own_socket(ctx);
	return 1;
}

SEC("cgroup/sendmsg4")
int udp_sendmsg4(struct bpf_sock_addr *ctx)
{
	own_socket(ctx);
	return 1;
}

SEC("cgroup/sendmsg6")
int udp_sendmsg6(struct bpf_sock_addr *ctx)
{
	own_socket(ctx);
	return 1;
}

/* The peer spoke first: its flow was created in softirq without a process.
 * The receiving task is the socket's owner; give it to the flow. */
static __always_inline void recv_owner(struct bpf_sock_addr *ctx, int v6)
{
	struct ca_udp_sock *st = own_socket(ctx);
	struct ca_udp_key key = {};
	struct ca_event *e;

	if (!st)
		return;
	key.cookie = st->owner.sock_id;
	key.port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		__u32 *a = (__u32 *)key.addr;
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		key.family = AF_INET6;
		/* A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; the
		 * packet programs keyed that flow as plain IPv4. */
		if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
			a[0] = a[3];
			a[1] = a[2] = a[3] = 0;
			key.family = AF_INET;
		}
	} else {
		*(__u32 *)key.addr = ctx->user_ip4;
		key.family = AF_INET;
	}
	e = bpf_map_lookup_elem(&udp_flows, &key);
	if (e && (e->flags & CA_F_NO_OWNER)) {
		copy_owner(e, &st->owner);
		e->flags &= ~CA_F_NO_OWNER;
	}
}

SEC("cgroup/recvmsg4")
int udp_recvmsg4(struct bpf_sock_addr *ctx)
{
	recv_owner(ctx, 0);
	return 1;
}

SEC("cgroup/recvmsg6")
int udp_recvmsg6(struct bpf_sock_addr *ctx)
{
	recv_owner(ctx, 1);
	return 1;
}

/* Addresses, ports and payload length of one datagram; 0 if it is not one
 * (an IPv6 extension header before UDP is not followed: not counted). */
static __always_inline int parse_udp(struct __sk_buff *skb, int egress, struct ca_udp_key *key, struct ca_event *e, __u32 *payload)
{
	struct { __u16 sport, dport, len, check; } uh;
	__u32 l4;

	if (skb->protocol == bpf_htons(CA_ETH_P_IP)) {
		struct { __u8 vihl, tos; __u16 tot_len, id, frag; __u8 ttl, proto; __u16 check; __u32 saddr, daddr; } ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)) || ih.proto != IPPROTO_UDP)
			return 0;
		l4 = (ih.vihl & 0xf) * 4;
		*(__u32 *)key->addr = egress ? ih.daddr : ih.saddr;
		*(__u32 *)e->saddr = egress ? ih.saddr : ih.daddr;
		key->family = AF_INET;
	} else if (skb->protocol == bpf_htons(CA_ETH_P_IPV6)) {
		struct { __u32 flow; __u16 plen; __u8 nexthdr, hops; __u8 saddr[16], daddr[16]; } ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)) || ih.nexthdr != IPPROTO_UDP)
			return 0;
		l4 = sizeof(ih);
		__builtin_memcpy(key->addr, egress ? ih.daddr : ih.saddr, 16);
		__builtin_memcpy(e->saddr, egress ? ih.saddr : ih.daddr, 16);
		key->family = AF_INET6;
	} else {
		return 0;
	}
	if (bpf_skb_load_bytes(skb, l4, &uh, sizeof(uh)))
		return 0;
	key->port = bpf_ntohs(egress ? uh.dport : uh.sport);
	e->sport = bpf_ntohs(egress ? uh.sport : uh.dport);
	*payload = skb->len > l4 + sizeof(uh) ? skb->len - l4 - sizeof(uh) : 0;
	return 1;
}

static __always_inline void count_pkt(struct ca_event *e, int egress, __u32 payload, __u32 segs, __u64 now)
{
	if (egress) {
		__sync_fetch_and_add(&e->pkts_sent, segs);
		__sync_fetch_and_add(&e->bytes_acked, payload);
	} else {
		__sync_fetch_and_add(&e->pkts_received, segs);
		__sync_fetch_and_add(&e->bytes_received, payload);
	}
	e->last_ns = now;
}

static __always_inline void skip_flow(const struct ca_udp_key *key)
{
	__u32 one = 1;

	bpf_map_update_elem(&udp_skip, key, &one, BPF_ANY);
}

/* A datagram of a UDP socket: count it on its flow, creating the flow. */
static __noinline int udp_packet(struct __sk_buff *skb, struct bpf_sock *sk, int egress)
{
	struct ca_udp_key key = {};
	struct ca_event ne = {};
	struct ca_udp_sock *st;
	struct ca_event *e;
	__u32 payload = 0, segs;
	__u64 now;
	long err;
	int admit;

	if (!parse_udp(skb, egress, &key, &ne, &payload))
		return 0;
	st = bpf_sk_storage_get(&udp_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (!st->owner.sock_id) {
		st->owner.sock_id = bpf_get_socket_cookie(skb);
		st->netns = udp_netns(sk);
	}
	key.cookie = st->owner.sock_id;
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	now = bpf_ktime_get_boot_ns();
	e = bpf_map_lookup_elem(&udp_flows, &key);
	if (e) {
		count_pkt(e, egress, payload, segs, now);
		return 0;
	}
	if (bpf_map_lookup_elem(&udp_skip, &key))
		return 0;

	ne.sock_id = key.cookie;
	ne.start_ns = now;
	ne.netns = st->netns;
	ne.family = key.family;
	ne.dport = key.port;
	__builtin_memcpy(ne.daddr, key.addr, CA_ADDR_LEN);
	ne.flags = CA_F_UDP | (egress ? CA_F_ACTIVE : 0);
	if (st->has_owner)
		copy_owner(&ne, &st->owner);
	else
		ne.flags |= CA_F_NO_OWNER;
	count_pkt(&ne, egress, payload, segs, now);
	if (ignored(&ne)) {
		stat_inc(CA_STAT_FILTERED);
		skip_flow(&key);
		return 0;
	}
	admit = rate_admit();
	if (admit == 0) {
		skip_flow(&key);
		return 0;
	}
	if (admit == 2)
		ne.flags |= CA_F_SAMPLED;
	err = bpf_map_update_elem(&udp_flows, &key, &ne, BPF_NOEXIST);
	if (err == -EEXIST) { /* another CPU created it a moment ago */
		e = bpf_map_lookup_elem(&udp_flows, &key);
		if (e)
			count_pkt(e, egress, payload, segs, now);
		return 0;
	}
	if (err) {
		count_untracked(err);
		skip_flow(&key);
		return 0;
	}
	__sync_fetch_and_add(&st->flows, 1);
	if (!st->first.cookie)
		st->first = key;
	return 0;
}

static __always_inline int udp_skb(struct __sk_buff *skb, int egress)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_UDP)
		return 1;
	udp_packet(skb, sk, egress);
	return 1;
}

SEC("cgroup_skb/egress")
int udp_egress(struct __sk_buff *skb)
{
	return udp_skb(skb, 1);
}

SEC("cgroup_skb/ingress")
int udp_ingress(struct __sk_buff *skb)
{
	return udp_skb(skb, 0);
}

/* Sends one flow's final record and deletes it, unless the agent's idle walk
 * deleted it first (then that walk sent the record). */
static __always_inline void release_flow(struct ca_udp_key *key, struct ca_event *e)
{
	struct ca_event copy;

	__builtin_memcpy(&copy, e, sizeof(copy));
	if (bpf_map_delete_elem(&udp_flows, key))
		return;
	copy.flags |= CA_F_CLOSED;
	copy.end_ns = copy.last_ns;
	emit(&copy);
}

static long release_one(struct bpf_map *map, struct ca_udp_key *key, struct ca_event *e, __u64 *cookie)
{
	if (key->cookie == *cookie)
		release_flow(key, e);
	return 0;
}

SEC("cgroup/sock_release")
int udp_release(struct bpf_sock *ctx)
{
	struct ca_udp_sock *st;
	struct ca_event *e;
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	st = bpf_sk_storage_get(&udp_socks, ctx, 0, 0);
	if (!st || st->flows == 0)
		return 1;
	if (st->flows == 1) {
		struct ca_udp_key key = st->first;

		e = bpf_map_lookup_elem(&udp_flows, &key);
		if (e)
			release_flow(&key, e);
		return 1;
	}
	/* Several peers (a server, a sendto loop): find them all. This walks the
	 * whole flow map, but only when a multi-peer socket closes. */
	cookie = st->owner.sock_id;
	bpf_for_each_map_elem(&udp_flows, release_one, &cookie, 0);
	return 1;
}
