/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alveole/csum.h: incremental internet checksum updates for header rewrites
 * (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')), from XDP and TC alike.
 *
 * Values are taken as they lie in the packet (network order, loaded as they
 * are): the ones' complement sum gives the same bytes whatever the host byte
 * order, as long as the old and new values are loaded the same way.
 *
 * The L4 helpers take a pointer to the TCP/UDP/ICMPv6 checksum field, which
 * the caller has bounds-checked (see alv_ptr() in parse.h); pass NULL when
 * there is no L4 header to fix (a later fragment). Address rewrites change the
 * pseudo-header, so TCP, UDP and ICMPv6 checksums need them too; ICMP (IPv4)
 * checksums do not cover addresses.
 *
 * UDP: a zero checksum means "none" (IPv4) and is left alone; a computed zero
 * is sent as 0xffff (RFC 768). Mirrored in Python by alveole.vnf.csum.
 */
#ifndef __ALVEOLE_CSUM_H
#define __ALVEOLE_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>

enum alv_l4_csum {
	ALV_CSUM_TCP = 0,  /* also ICMPv6: a plain checksum */
	ALV_CSUM_UDP = 1,  /* zero = no checksum, computed zero sent as 0xffff */
};

/* fold a 32-bit ones' complement sum into 16 bits (two rounds suffice below 2^32) */
static __always_inline __u16 alv_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* the checksum after one 16-bit word of the covered data went from old to new */
static __always_inline __sum16 alv_csum_update16(__sum16 csum, __be16 old, __be16 new)
{
	__u32 sum = (__u16)~csum;

	sum += (__u16)~old;
	sum += (__u16)new;
	return (__sum16)~alv_csum_fold(sum);
}

/* the same for a 32-bit word (an IPv4 address, two ports) */
static __always_inline __sum16 alv_csum_update32(__sum16 csum, __be32 old, __be32 new)
{
	__u32 sum = (__u16)~csum;

	sum += (~old & 0xffff) + (~old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	return (__sum16)~alv_csum_fold(sum);
}

/* the same for 16 bytes (an IPv6 address) */
static __always_inline __sum16 alv_csum_update128(__sum16 csum, const __be32 *old, const __be32 *new)
{
	__u32 sum = (__u16)~csum;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		sum += (~old[i] & 0xffff) + (~old[i] >> 16);
		sum += (new[i] & 0xffff) + (new[i] >> 16);
	}
	return (__sum16)~alv_csum_fold(sum);
}

/* L4 variants: apply the UDP zero rules when kind is ALV_CSUM_UDP */
static __always_inline void alv_l4_csum_update16(__sum16 *csum, __be16 old, __be16 new, int kind)
{
	if (!csum || (kind == ALV_CSUM_UDP && !*csum))
		return;
	*csum = alv_csum_update16(*csum, old, new);
	if (kind == ALV_CSUM_UDP && !*csum)
		*csum = (__sum16)0xffff;
}

static __always_inline void alv_l4_csum_update32(__sum16 *csum, __be32 old, __be32 new, int kind)
{
	if (!csum || (kind == ALV_CSUM_UDP && !*csum))
		return;
	*csum = alv_csum_update32(*csum, old, new);
	if (kind == ALV_CSUM_UDP && !*csum)
		*csum = (__sum16)0xffff;
}

static __always_inline void alv_l4_csum_update128(__sum16 *csum, const __be32 *old, const __be32 *new, int kind)
{
	if (!csum || (kind == ALV_CSUM_UDP && !*csum))
		return;
	*csum = alv_csum_update128(*csum, old, new);
	if (kind == ALV_CSUM_UDP && !*csum)
		*csum = (__sum16)0xffff;
}

/* set the IPv4 TTL and patch the header checksum (TTL shares a word with protocol) */
static __always_inline void alv_ipv4_set_ttl(struct iphdr *ip, __u8 ttl)
{
	__be16 old = *(__be16 *)&ip->ttl;

	ip->ttl = ttl;
	ip->check = alv_csum_update16(ip->check, old, *(__be16 *)&ip->ttl);
}

/* set the IPv4 TOS byte and patch the header checksum */
static __always_inline void alv_ipv4_set_tos(struct iphdr *ip, __u8 tos)
{
	__be16 old = *(__be16 *)ip;

	ip->tos = tos;
	ip->check = alv_csum_update16(ip->check, old, *(__be16 *)ip);
}

/*
 * Rewrite an IPv4 address (field: &ip->saddr or &ip->daddr), patching the
 * header checksum and, through the pseudo-header, the L4 checksum.
 */
static __always_inline void alv_ipv4_set_addr(struct iphdr *ip, __be32 *field, __be32 addr, __sum16 *l4csum,
					      int kind)
{
	__be32 old = *field;

	*field = addr;
	ip->check = alv_csum_update32(ip->check, old, addr);
	alv_l4_csum_update32(l4csum, old, addr, kind);
}

/* rewrite an IPv6 address (field: &ip6->saddr or &ip6->daddr); no IP checksum in IPv6 */
static __always_inline void alv_ipv6_set_addr(struct in6_addr *field, const struct in6_addr *addr,
					      __sum16 *l4csum, int kind)
{
	struct in6_addr old = *field;

	*field = *addr;
	alv_l4_csum_update128(l4csum, old.in6_u.u6_addr32, addr->in6_u.u6_addr32, kind);
}

/* rewrite a TCP/UDP port (field: &tcp->source, &udp->dest, ...) */
static __always_inline void alv_l4_set_port(__be16 *field, __be16 port, __sum16 *l4csum, int kind)
{
	__be16 old = *field;

	*field = port;
	alv_l4_csum_update16(l4csum, old, port, kind);
}

/* full checksum of a 20-byte IPv4 header (no options), e.g. after building one */
static __always_inline __sum16 alv_ipv4_csum20(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < 10; i++)
		if (i != 5) /* the checksum field itself */
			sum += w[i];
	return (__sum16)~alv_csum_fold(sum);
}

#endif /* __ALVEOLE_CSUM_H */
