/* src/text/unicode.c: UTF-8 coding and table lookups (see unicode.h). */
#include "text/unicode.h"

size_t ql_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = ql_utf8_len(u[0]);
    if (len == 1) {
        *cp = u[0] < 0x80 ? u[0] : QL_UTF8_REPLACEMENT;
        return 1;
    }
    if (len > n) {
        *cp = QL_UTF8_REPLACEMENT;
        return 1;
    }
    uint32_t c = u[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = QL_UTF8_REPLACEMENT;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = QL_UTF8_REPLACEMENT;
        return 1;
    }
    *cp = c;
    return len;
}

size_t ql_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

ql_uclass ql_unicode_class(uint32_t cp) {
    /* Last range whose start <= cp. */
    size_t lo = 0, hi = ql_ucd_n_classes;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ql_ucd_classes[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    return (ql_uclass)ql_ucd_classes[lo].cls;
}

bool ql_unicode_is_space(uint32_t cp) {
    /* Unicode White_Space (PropList.txt). */
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Index of cp in a table sorted on column 0 with `stride` uint32 per row, or -1. */
static long find_row(const uint32_t *table, size_t n, size_t stride, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t key = table[mid * stride];
        if (key == cp) return (long)mid;
        if (key < cp) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

uint32_t ql_unicode_tolower(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    long i = find_row(&ql_ucd_lower[0][0], ql_ucd_n_lower, 2, cp);
    return i < 0 ? cp : ql_ucd_lower[i][1];
}

size_t ql_unicode_nfd(uint32_t cp, uint32_t out[4]) {
    /* Hangul syllables: Unicode 14.0 section 3.12, "Hangul Syllable Decomposition". */
    enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
           V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = 19 * N_COUNT };
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        out[0] = L_BASE + s / N_COUNT;
        out[1] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (s % T_COUNT == 0) return 2;
        out[2] = T_BASE + s % T_COUNT;
        return 3;
    }
    long i = cp < 0xC0 ? -1 : find_row(&ql_ucd_nfd[0][0], ql_ucd_n_nfd, 5, cp);
    if (i < 0) {
        out[0] = cp;
        return 1;
    }
    size_t n = 0;
    while (n < 4 && ql_ucd_nfd[i][1 + n] != 0) {
        out[n] = ql_ucd_nfd[i][1 + n];
        n++;
    }
    return n;
}

/* White_Space (PropList.txt) as the members of a PCRE2 character class. */
static const char k_white_space_class[] =
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
    "\\x{202f}\\x{205f}\\x{3000}";

static size_t put_str(char *out, size_t cap, size_t at, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++, at++)
        if (at + 1 < cap) out[at] = s[i];
    return at;
}

size_t ql_regex_white_space(const char *re, char *out, size_t cap) {
    const size_t n_ws = sizeof k_white_space_class - 1;
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; re[i];) {
        char c = re[i];
        if (c == '\\' && (re[i + 1] == 's' || re[i + 1] == 'S')) {
            bool neg = re[i + 1] == 'S';
            if (in_class && neg) return 0; /* [^...] minus a set: not needed by any pattern */
            if (!in_class) o = put_str(out, cap, o, neg ? "[^" : "[", neg ? 2 : 1);
            o = put_str(out, cap, o, k_white_space_class, n_ws);
            if (!in_class) o = put_str(out, cap, o, "]", 1);
            i += 2;
            continue;
        }
        if (c == '\\' && re[i + 1]) { /* any other escape, copied as is (\p{L}, \r, \[) */
            o = put_str(out, cap, o, re + i, 2);
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            /* A ']' right after "[" or "[^" is a literal member, not the end. */
            size_t k = i + 1 + (re[i + 1] == '^');
            k += re[k] == ']';
            o = put_str(out, cap, o, re + i, k - i);
            i = k;
            continue;
        }
        if (in_class && c == ']') in_class = false;
        o = put_str(out, cap, o, &c, 1);
        i++;
    }
    if (cap > 0) out[o < cap ? o : cap - 1] = '\0';
    return o;
}
