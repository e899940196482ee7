// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * DNS in the sensor. Included from connaudit.bpf.c (one object, one load).
 *
 *   dns_connect4/6, dns_sendmsg4/6  cgroup sock_addr hooks, process context:
 *       a socket that connect()s or sends to port 53 gets its process
 *       remembered in socket-local storage (freed with the socket).
 *   dns_egress / dns_ingress  cgroup_skb at the root cgroup: every packet of
 *       the host passes here, so anything that is not UDP/TCP port 53 leaves
 *       after the IP protocol and one port compare. Queries (egress to port
 *       53) and answers (ingress from port 53) go to dns_events; the owner
 *       comes from the socket's storage, never from `current` (softirq).
 *
 * The join of query and answer, and the DNS timeout, are in the agent
 * (agent/dns-join.ts): it needs a clock anyway for unanswered queries.
 */
#include "dns.h"

_Static_assert(sizeof(struct ca_dns_event) == CA_DNS_EVENT_SIZE, "CA_DNS_EVENT_SIZE is stale");
_Static_assert(sizeof(struct ca_dns_owner) == CA_DNS_OWNER_SIZE, "CA_DNS_OWNER_SIZE is stale");

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define DNS_PORT 53
#define DNS_HDR 12
#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_AAAA 28
#define MSG_MASK (CA_DNS_MSG_MAX - 1)

extern void *bpf_cast_to_kern_ctx(void *) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* default; the agent sets dns.ring_buffer_bytes */
} dns_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ca_dns_owner);
} dns_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CA_DNS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_stats SEC(".maps");

/* Keeps the enums the agent mirrors in BTF (see btf_anchor in connaudit.bpf.c). */
struct ca_dns_btf_anchor {
	enum ca_dns_sizes sizes;
	enum ca_dns_flag flag;
	enum ca_dns_stat stat;
	struct ca_dns_owner owner;
	struct ca_dns_event event;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ca_dns_btf_anchor);
} dns_btf_anchor SEC(".maps");

static __always_inline void dns_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&dns_stats, &idx);
	if (v)
		*v += 1;
}

/* --- process attribution (task context) --------------------------------- */

static __always_inline void remember_owner(struct bpf_sock *sk)
{
	struct ca_dns_owner *o;
	__u64 pt;

	if (!sk)
		return;
	o = bpf_sk_storage_get(&dns_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		dns_stat_inc(CA_DNS_STAT_OWNER_NOMEM);
		return;
	}
	pt = bpf_get_current_pid_tgid();
	o->pid = pt >> 32;
	o->tid = (__u32)pt;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->ppid = bpf_get_current_task_btf()->real_parent->tgid;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* user_port is in network order. Always allow: this hook only watches. */
static __always_inline int on_sock_addr(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == bpf_htons(DNS_PORT))
		remember_owner(ctx->sk);
	return 1;
}

SEC("cgroup/connect4")
int dns_connect4(struct bpf_sock_addr *ctx) { return on_sock_addr(ctx); }
SEC("cgroup/connect6")
int dns_connect6(struct bpf_sock_addr *ctx) { return on_sock_addr(ctx); }
SEC("cgroup/sendmsg4")
int dns_sendmsg4(struct bpf_sock_addr *ctx) { return on_sock_addr(ctx); }
SEC("cgroup/sendmsg6")
int dns_sendmsg6(struct bpf_sock_addr *ctx) { return on_sock_addr(ctx); }

/* --- the DNS message ----------------------------------------------------- */

/* One message per CPU being read. cgroup_skb programs do not nest on a CPU
 * (they run with preemption disabled), so one slot is enough. */

/*
 * The walk over the message as a state machine driven by bpf_loop: the
 * verifier checks one step once instead of every path through nested
 * label/record loops (which exceeded its 1M-instruction budget). One step
 * reads one label, one fixed part of a record, or zeroes one byte of a
 * RDATA that must not leave the kernel.
 */
enum walk_phase { W_QNAME, W_QFIXED, W_ANAME, W_AFIXED, W_ZERO, W_OK, W_BAD };

/* The walk's state lives in the map value, not on the stack: the verifier
 * does not track values loaded from a map, so every step looks the same to
 * it and the callback is verified once (on the stack, the growing offset
 * made it re-verify the step for each value until it gave up). */
struct walk {
	__u32 off, len, phase, qd, an, q, a, zfrom, zto, cut;
};

struct ca_dns_scratch {
	__u8 msg[CA_DNS_MSG_MAX];
	struct walk w;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ca_dns_scratch);
} dns_scratch SEC(".maps");

static __always_inline __u16 rd16(const __u8 *m, __u32 off)
{
	return ((__u16)m[off & MSG_MASK] << 8) | m[(off + 1) & MSG_MASK];
}

static long walk_step(__u32 i, void *unused)
{
	__u32 zero = 0, off;
	struct ca_dns_scratch *s = bpf_map_lookup_elem(&dns_scratch, &zero);
	struct walk *w;
	__u8 *m, b;

	if (!s)
		return 1;
	m = s->msg;
	w = &s->w;
	off = w->off;
	switch (w->phase) {
	case W_QNAME:
	case W_ANAME:
		if (off >= w->len)
			goto short_msg;
		b = m[off & MSG_MASK];
		if (b == 0) {
			w->off = off + 1;
		} else if ((b & 0xc0) == 0xc0) {
			/* A pointer ends a name. The first question cannot hold one:
			 * there is nothing before it to point to. */
			if (w->phase == W_QNAME && w->q == 0)
				goto bad;
			w->off = off + 2;
		} else if (b & 0xc0) {
			goto bad;
		} else {
			w->off = off + b + 1;
			return 0;
		}
		w->phase = w->phase == W_QNAME ? W_QFIXED : W_AFIXED;
		return 0;
	case W_QFIXED:
		if (off + 4 > w->len)
			goto short_msg;
		w->off = off + 4;
		w->q++;
		if (w->q < w->qd)
			w->phase = W_QNAME;
		else
			w->phase = w->an ? W_ANAME : W_OK;
		return 0;
	case W_AFIXED: {
		__u16 type, rdlen;
		if (off + 10 > w->len)
			goto short_msg;
		type = rd16(m, off);
		rdlen = rd16(m, off + 8);
		if (off + 10 + rdlen > w->len)
			goto short_msg;
		w->off = off + 10 + rdlen;
		w->a++;
		if (type != DNS_T_A && type != DNS_T_AAAA && type != DNS_T_CNAME && rdlen) {
			w->zfrom = off + 10;
			w->zto = w->off;
			w->phase = W_ZERO;
			return 0;
		}
		goto next_answer;
	}
	case W_ZERO:
		m[w->zfrom & MSG_MASK] = 0;
		if (++w->zfrom < w->zto)
			return 0;
		goto next_answer;
	default:
		return 1;
	}
next_answer:
	if (w->a >= w->an) {
		w->phase = W_OK;
		return 1;
	}
	if (w->a >= CA_DNS_MAX_ANSWERS) {
		w->cut = 1;
		w->phase = W_OK;
		return 1;
	}
	w->phase = W_ANAME;
	return 0;
short_msg:
	/* The message goes on past what we hold. Answers read so far stay;
	 * in the question it is unreadable. */
	if (w->phase == W_ANAME || w->phase == W_AFIXED) {
		w->cut = 1;
		w->phase = W_OK;
		return 1;
	}
bad:
	w->phase = W_BAD;
	return 1;
}

/*
 * Walks the message in the scratch slot (`len` bytes held): questions, then
 * answers. Returns the length to keep (the end of the last answer read;
 * authority and additional sections are past it), or 0 if unreadable.
 */
static __always_inline __u32 scrub(struct ca_dns_scratch *s, __u32 len, int answer, __u32 *flags)
{
	struct walk *w = &s->w;

	__builtin_memset(w, 0, sizeof(*w));
	w->len = len;
	w->off = DNS_HDR;
	w->qd = rd16(s->msg, 4);
	/* A query's answer section is empty by definition: nothing to read. */
	w->an = answer ? rd16(s->msg, 6) : 0;
	if (w->qd == 0 || w->qd > 4)
		return 0;
	w->phase = W_QNAME;
	/* 4 questions + 16 answers of at most 128 labels each, plus the
	 * zeroed RDATA a byte per step: a bound, never reached. */
	bpf_loop(4096, walk_step, NULL, 0);
	if (w->phase != W_OK)
		return 0;
	if (w->cut)
		*flags |= CA_DNS_F_CUT;
	return w->off;
}

static __always_inline void fill_owner_and_ns(struct ca_dns_event *e, struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct bpf_sock *sk = skb->sk;
	struct ca_dns_owner *o;

	e->netns = BPF_CORE_READ(kskb, sk, __sk_common.skc_net.net, ns.inum);
	if (!e->netns)
		e->netns = BPF_CORE_READ(kskb, dev, nd_net.net, ns.inum);
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	o = bpf_sk_storage_get(&dns_owners, sk, 0, 0);
	if (!o)
		return;
	e->pid = o->pid;
	e->tid = o->tid;
	e->ppid = o->ppid;
	e->uid = o->uid;
	e->cgroup_id = o->cgroup_id;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->flags |= CA_DNS_F_OWNER;
}

/* The slow path: a packet to (egress) or from (ingress) port 53. */
static __noinline int capture(struct __sk_buff *skb, __u32 l4off, __u32 is_tcp, __u32 ingress, __u32 v6)
{
	__u16 ports[2];
	__u32 off, avail, len, wire, keep, eflags, zero = 0;
	__u64 n;
	struct ca_dns_scratch *s;
	struct ca_dns_event *e;

	if (is_tcp) {
		__u8 doff;
		__u16 prefix;
		if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1))
			return 0;
		off = l4off + (doff >> 4) * 4;
		if (skb->len <= off)
			return 0; /* SYN, ACK, FIN: no payload, not a DNS message */
		/* Only a segment that starts a message carries the 2-byte length
		 * and the header; continuations are counted, not read. */
		if (bpf_skb_load_bytes(skb, off, &prefix, 2)) {
			dns_stat_inc(CA_DNS_STAT_TCP_SKIPPED);
			return 0;
		}
		wire = bpf_ntohs(prefix);
		off += 2;
	} else {
		off = l4off + 8;
		wire = skb->len > off ? skb->len - off : 0;
	}
	avail = skb->len > off ? skb->len - off : 0;
	if (avail < DNS_HDR || wire < DNS_HDR) {
		dns_stat_inc(is_tcp ? CA_DNS_STAT_TCP_SKIPPED : CA_DNS_STAT_PARSE_ERRORS);
		return 0;
	}
	len = avail < wire ? avail : wire;
	if (len > CA_DNS_MSG_MAX)
		len = CA_DNS_MSG_MAX;

	s = bpf_map_lookup_elem(&dns_scratch, &zero);
	n = len;
	asm volatile("%[n] &= 0x3ff" : [n] "+r"(n)); /* see the copy below */
	if (!s || n < DNS_HDR || n > CA_DNS_MSG_MAX || bpf_skb_load_bytes(skb, off, s->msg, n))
		goto bad;
	/* A query we send has QR 0 and an answer we receive QR 1; anything
	 * else on port 53 is not a client transaction of ours. */
	if (((s->msg[2] >> 7) & 1) != ingress)
		goto bad;
	eflags = (ingress ? CA_DNS_F_ANSWER : 0) | (is_tcp ? CA_DNS_F_TCP : 0);
	keep = scrub(s, len, ingress, &eflags);
	if (keep < DNS_HDR || keep > CA_DNS_MSG_MAX)
		goto bad;
	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		dns_stat_inc(CA_DNS_STAT_RINGBUF_DROPS);
		return 0;
	}
	/* Ring memory is not zeroed: nothing past `keep` may reach user space. */
	__builtin_memset(e, 0, sizeof(*e));
	/* The compiler drops a bound it can prove; the verifier cannot, and
	 * needs it on the very register the helper gets. */
	n = keep;
	asm volatile("%[n] &= 0x3ff" : [n] "+r"(n));
	if (n > CA_DNS_MSG_MAX)
		goto discard;
	bpf_probe_read_kernel(e->msg, n, s->msg);
	e->msg_len = keep;
	e->flags = eflags;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(skb);
	e->wire_len = wire;
	/* src/dst of the packet -> ours/the resolver's */
	if (bpf_skb_load_bytes(skb, l4off, ports, 4))
		goto discard;
	e->lport = bpf_ntohs(ports[ingress ? 1 : 0]);
	e->rport = bpf_ntohs(ports[ingress ? 0 : 1]);
	if (v6) {
		e->family = AF_INET6;
		if (bpf_skb_load_bytes(skb, ingress ? 24 : 8, e->laddr, 16) ||
		    bpf_skb_load_bytes(skb, ingress ? 8 : 24, e->raddr, 16))
			goto discard;
	} else {
		e->family = AF_INET;
		if (bpf_skb_load_bytes(skb, ingress ? 16 : 12, e->laddr, 4) ||
		    bpf_skb_load_bytes(skb, ingress ? 12 : 16, e->raddr, 4))
			goto discard;
	}
	fill_owner_and_ns(e, skb);
	if (netns_ignored(e->netns)) {
		bpf_ringbuf_discard(e, 0);
		dns_stat_inc(CA_DNS_STAT_FILTERED);
		return 0;
	}
	bpf_ringbuf_submit(e, 0);
	dns_stat_inc(ingress ? CA_DNS_STAT_ANSWERS : CA_DNS_STAT_QUERIES);
	return 1;
discard:
	bpf_ringbuf_discard(e, 0);
bad:
	dns_stat_inc(CA_DNS_STAT_PARSE_ERRORS);
	return 0;
}

/*
 * The per-packet fast path. At the cgroup hooks skb->data is the network
 * header, for egress and (the kernel pushes it back) ingress alike. Port 53
 * is the remote port: destination on egress, source on ingress. Returns 1
 * (pass) always: this program only watches.
 */
static __always_inline void on_skb(struct __sk_buff *skb, __u32 ingress)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 l4off, v6 = 0;
	__u8 proto;
	__u16 *ports;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;
		if ((void *)(ip + 1) > end)
			return;
		/* Later fragments carry no UDP header; a DNS answer over 1472
		 * bytes fragments and is not read (counted nowhere: it is not
		 * recognisable as DNS without reassembly). */
		if (ip->frag_off & bpf_htons(0x1fff))
			return;
		proto = ip->protocol;
		l4off = ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;
		if ((void *)(ip6 + 1) > end)
			return;
		proto = ip6->nexthdr; /* extension headers: not DNS we read */
		l4off = sizeof(*ip6);
		v6 = 1;
	} else {
		return;
	}
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return;
	ports = data + l4off;
	if ((void *)(ports + 2) > end)
		return;
	if (ports[ingress ? 0 : 1] != bpf_htons(DNS_PORT))
		return;
	capture(skb, l4off, proto == IPPROTO_TCP, ingress, v6);
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	on_skb(skb, 0);
	return 1;
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	on_skb(skb, 1);
	return 1;
}
