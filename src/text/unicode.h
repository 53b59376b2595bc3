/*
 * src/text/unicode.h: the little Unicode the tokenizers need beyond PCRE2 (internal).
 *
 * UTF-8 decoding/encoding, a general-category class per code point, simple lowercase and
 * canonical decomposition (NFD). The tables are generated (unicode_data_gen.py).
 */
#ifndef QL_TEXT_UNICODE_H
#define QL_TEXT_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* General-category classes: the major class, with Mn (non-spacing marks, the accents
 * that BERT's strip_accents removes) split from the other marks. */
typedef enum ql_uclass {
    QL_UC_OTHER = 0, /* C*: control, format, surrogate, private use, unassigned */
    QL_UC_LETTER,
    QL_UC_MARK_NONSPACING,
    QL_UC_MARK,      /* Mc, Me */
    QL_UC_NUMBER,
    QL_UC_PUNCT,
    QL_UC_SYMBOL,
    QL_UC_SEPARATOR, /* Z* */
} ql_uclass;

typedef struct ql_ucd_range {
    uint32_t start;
    uint8_t cls; /* ql_uclass */
} ql_ucd_range;

extern const ql_ucd_range ql_ucd_classes[];
extern const size_t ql_ucd_n_classes;
extern const uint32_t ql_ucd_lower[][2];
extern const size_t ql_ucd_n_lower;
extern const uint32_t ql_ucd_nfd[][5];
extern const size_t ql_ucd_n_nfd;

#define QL_UTF8_REPLACEMENT 0xFFFDu

/* Length of the UTF-8 sequence that starts with byte `c` (1 for continuation or invalid
 * lead bytes, so that a scan always advances). */
static inline size_t ql_utf8_len(unsigned char c) {
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Decodes one code point at s[0..n) (n >= 1). Invalid or truncated sequences give
 * U+FFFD and consume one byte. Returns the bytes consumed. */
size_t ql_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes cp into out (at least 4 bytes); returns the byte count (1..4). */
size_t ql_utf8_encode(uint32_t cp, char *out);

ql_uclass ql_unicode_class(uint32_t cp);
/* The Unicode White_Space property. */
bool ql_unicode_is_space(uint32_t cp);
uint32_t ql_unicode_tolower(uint32_t cp);
/* Writes the full canonical decomposition of cp (1..4 code points; Hangul syllables
 * decompose into 2 or 3 jamo) to out[4]; returns the count. */
size_t ql_unicode_nfd(uint32_t cp, uint32_t out[4]);

/* Writes regex `re` to out (cap bytes, NUL-terminated, truncated to fit) with \s and \S
 * spelled out as the Unicode White_Space set, the one ql_unicode_is_space, llama.cpp and
 * the Hugging Face (Oniguruma) pre-tokenizers use: PCRE2's \s under PCRE2_UCP also
 * matches U+180E MONGOLIAN VOWEL SEPARATOR (\h keeps it, though it has been a format
 * character since Unicode 6.3), which would cut words where the reference does not.
 * Returns the length of the rewritten pattern (as snprintf), or 0 for a pattern it does
 * not handle (\S inside a character class). */
size_t ql_regex_white_space(const char *re, char *out, size_t cap);

#endif
