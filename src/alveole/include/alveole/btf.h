/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ALV_BTF_EXPORT(struct foo): make clang emit BTF for a type that only appears in
 * local variables (ring-buffer events), so Python can decode it from the object's
 * BTF instead of repeating the struct by hand. Costs one pointer in .rodata.
 */
#ifndef __ALVEOLE_BTF_H
#define __ALVEOLE_BTF_H

#define __ALV_CAT2(a, b) a##b
#define __ALV_CAT(a, b) __ALV_CAT2(a, b)
#define ALV_BTF_EXPORT(type) \
	const volatile type *__ALV_CAT(__alv_btf_export_, __LINE__) __attribute__((unused)) = 0

#endif /* __ALVEOLE_BTF_H */
