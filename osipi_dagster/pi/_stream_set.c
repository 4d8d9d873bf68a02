/*
 * A PI Web API stream-set body (``GET streamsets/recorded``) read straight into Arrow buffers, outside the GIL.
 *
 * The fast path of osipi_dagster/pi/values.py (``stream_set_columns``). The reference is the general decoder
 * there (msgspec structs -> ValueColumns), which handles every shape PI may send: this parser reads only the
 * common shapes and answers None for anything else, so the caller falls back to the general decoder. Both must give
 * the same rows (osipi_dagster_tests/pi/test_stream_set_columns.py holds them to it).
 *
 * Read here: a body {"Items": [stream, ...]} whose streams are {"WebId": "...", "Items": [value, ...]} and whose
 * values are {"Timestamp": "YYYY-MM-DDTHH:MM:SS[.fff...]Z", "Value": V, "Good": b, "Questionable": b,
 * "Substituted": b, "Annotated": b}, V being a number, a string, true/false, null, or a digital state
 * {"Name": "...", "Value": code, "IsSystem": b}; text is any valid UTF-8, escapes decoded. Other keys are skipped.
 *
 * Answered None (general decoder): a body or stream that reports an error (WebException, Errors), a stream of
 * ``max_count`` values or more (it is paged), a null quality flag, a null value with errors, a value or a stream's
 * values given twice, a key or WebId with escapes or non-ASCII bytes, a timestamp of another form, any other value,
 * and anything that is not valid JSON (UTF-8 included).
 *
 * Numbers round as Python's float() does: short decimals exactly (exact_number), others by strtod_l in the C locale.
 * The body is only read (it is a bytes object the caller keeps), and the GIL is released while it is parsed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __APPLE__
#include <xlocale.h>
#endif
#ifdef _WIN32
#define locale_t _locale_t
#define strtod_l _strtod_l
#define newlocale(mask, name, base) _create_locale(LC_NUMERIC, name)
#endif

#define MAX_DEPTH 64   /* nesting skipped values may have */
#define MAX_NUMBER 64  /* characters of a number we convert */

typedef struct {
    char *data;
    size_t size, capacity;
} Buffer;

static int grow(Buffer *b, size_t more) {
    if (b->size + more <= b->capacity) return 1;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + more) capacity *= 2;
    char *data = realloc(b->data, capacity);
    if (!data) return 0;
    b->data = data;
    b->capacity = capacity;
    return 1;
}

static int append(Buffer *b, const void *src, size_t n) {
    if (n == 0) return 1;
    if (!grow(b, n)) return 0;
    memcpy(b->data + b->size, src, n);
    b->size += n;
    return 1;
}

/* Bit ``i`` of an Arrow bitmap (validity or boolean data), LSB first; bytes are added zeroed as rows come. */
static int set_bit(Buffer *b, size_t i, int on) {
    size_t byte = i / 8;
    if (byte >= b->size) {
        if (!grow(b, byte + 1 - b->size)) return 0;
        memset(b->data + b->size, 0, byte + 1 - b->size);
        b->size = byte + 1;
    }
    if (on) b->data[byte] |= (char)(1 << (i % 8));
    return 1;
}

typedef struct {
    const char *p, *end;
    locale_t c_locale;
    long long max_count;
    size_t rows;
    Buffer webids;    /* per stream: offset (int64) and length (int64) of its WebId in the body */
    Buffer counts;    /* per stream: int64 */
    Buffer stamps;    /* per row: int64 microseconds since 1970 (UTC) */
    Buffer values;    /* per row: double */
    Buffer value_valid, text_valid, good, questionable, substituted, annotated;  /* bitmaps */
    Buffer text_offsets; /* per row + 1: int64 */
    Buffer text;         /* UTF-8 bytes */
} Parser;

static void skip_ws(Parser *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int expect(Parser *s, char c) {
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int literal(Parser *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return 0;
    s->p += n;
    return 1;
}

/* A string without escapes or non-ASCII bytes, as keys, WebIds and timestamps are (else 0: the caller falls back). */
static int plain_string(Parser *s, const char **start, size_t *length) {
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *q = ++s->p;
    while (q < s->end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c == '\\' || c < 0x20 || c >= 0x80) return 0;
        q++;
    }
    if (q >= s->end) return 0;
    *start = s->p;
    *length = (size_t)(q - s->p);
    s->p = q + 1;
    return 1;
}

/* Whether a key (``n`` bytes at ``key``) is the literal ``name``. */
#define KEY_IS(key, n, name) ((n) == sizeof(name) - 1 && memcmp((key), (name), sizeof(name) - 1) == 0)

/* The length of the valid UTF-8 sequence of 2-4 bytes at p (0: not valid UTF-8, as Python's decoder judges it). */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    unsigned char low = 0x80, high = 0xBF; /* the range of the second byte */
    if (c < 0xC2 || c > 0xF4 || (size_t)(end - p) < n) return 0;
    if (c == 0xE0) low = 0xA0;
    if (c == 0xED) high = 0x9F; /* no UTF-16 surrogates */
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F; /* nothing past U+10FFFF */
    if (p[1] < low || p[1] > high) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
    unsigned v = 0;
    if (end - p < 4) return 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static int append_utf8(Buffer *out, unsigned code) {
    unsigned char b[4];
    size_t n;
    if (code < 0x80) {
        b[0] = (unsigned char)code, n = 1;
    } else if (code < 0x800) {
        b[0] = (unsigned char)(0xC0 | code >> 6), b[1] = (unsigned char)(0x80 | (code & 0x3F)), n = 2;
    } else if (code < 0x10000) {
        b[0] = (unsigned char)(0xE0 | code >> 12), b[1] = (unsigned char)(0x80 | (code >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (code & 0x3F)), n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | code >> 18), b[1] = (unsigned char)(0x80 | (code >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (code >> 6 & 0x3F)), b[3] = (unsigned char)(0x80 | (code & 0x3F)), n = 4;
    }
    return append(out, b, n);
}

/* Any JSON string, decoded into ``out`` as UTF-8 (NULL: only checked and skipped). Escapes are decoded (a surrogate
 * pair into one character); invalid UTF-8, a bad escape or a lone surrogate is 0, as the general decoder rejects
 * them too. */
static int string(Parser *s, Buffer *out) {
    const unsigned char *p = (const unsigned char *)s->p, *end = (const unsigned char *)s->end;
    if (p >= end || *p != '"') return 0;
    p++;
    while (p < end) {
        const unsigned char *run = p; /* plain bytes are copied in runs */
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
            if (*p < 0x80) {
                p++;
            } else {
                size_t n = utf8_sequence(p, end);
                if (!n) return 0;
                p += n;
            }
        }
        if (out && !append(out, run, (size_t)(p - run))) return 0;
        if (p >= end || *p < 0x20) return 0;
        if (*p == '"') {
            s->p = (const char *)p + 1;
            return 1;
        }
        if (++p >= end) return 0; /* a backslash */
        unsigned code;
        switch (*p++) {
            case '"': code = '"'; break;
            case '\\': code = '\\'; break;
            case '/': code = '/'; break;
            case 'b': code = '\b'; break;
            case 'f': code = '\f'; break;
            case 'n': code = '\n'; break;
            case 'r': code = '\r'; break;
            case 't': code = '\t'; break;
            case 'u':
                if (!hex4(p, end, &code)) return 0;
                p += 4;
                if (code >= 0xDC00 && code <= 0xDFFF) return 0;
                if (code >= 0xD800 && code <= 0xDBFF) { /* must be followed by the low half of the pair */
                    unsigned low;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &low)) return 0;
                    if (low < 0xDC00 || low > 0xDFFF) return 0;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
                break;
            default: return 0;
        }
        if (out && !append_utf8(out, code)) return 0;
    }
    return 0;
}

static int skip_string(Parser *s) {
    return string(s, NULL);
}

/* A JSON number's text: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_text(Parser *s, const char **start, size_t *length) {
    const char *q = s->p;
    *start = q;
    if (q < s->end && *q == '-') q++;
    if (q >= s->end) return 0;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < s->end && *q >= '0' && *q <= '9') q++;
    } else {
        return 0;
    }
    if (q < s->end && *q == '.') {
        q++;
        if (q >= s->end || *q < '0' || *q > '9') return 0;
        while (q < s->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < s->end && (*q == '+' || *q == '-')) q++;
        if (q >= s->end || *q < '0' || *q > '9') return 0;
        while (q < s->end && *q >= '0' && *q <= '9') q++;
    }
    *length = (size_t)(q - *start);
    s->p = q;
    return 1;
}

/* Exact powers of ten: a double holds 10^0..10^22 without rounding. */
static const double POWERS_OF_TEN[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Clinger's fast path: digits d (at most 2^53) times 10^e with |e| <= 22 is one correctly rounded multiplication
 * or division of two exact doubles. 0: the number needs strtod. */
static int exact_number(const char *p, size_t n, double *out) {
    const char *end = p + n;
    int negative = 0, exponent = 0, digits = 0;
    uint64_t mantissa = 0;
    if (p < end && *p == '-') negative = 1, p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++, exponent--)
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    if (p != end || digits > 19 || mantissa > (UINT64_C(1) << 53) || exponent < -22) return 0;
    double value = (double)mantissa / POWERS_OF_TEN[-exponent];
    *out = negative ? -value : value;
    return 1;
}

static int number(Parser *s, double *out) {
    const char *start;
    size_t n;
    char text[MAX_NUMBER + 1];
    char *stop;
    skip_ws(s);
    if (!number_text(s, &start, &n) || n > MAX_NUMBER) return 0;
    if (exact_number(start, n, out)) return 1; /* numbers with an exponent part take strtod */
    memcpy(text, start, n);
    text[n] = '\0';
    *out = strtod_l(text, &stop, s->c_locale);
    /* overflow (1e999): the general decoder decides what it means */
    return stop == text + n && *out < HUGE_VAL && *out > -HUGE_VAL;
}

static int skip_value(Parser *s, int depth);

static int skip_container(Parser *s, char close, int is_object, int depth) {
    if (depth > MAX_DEPTH) return 0;
    s->p++;
    if (expect(s, close)) return 1;
    do {
        if (is_object) {
            skip_ws(s);
            if (!skip_string(s) || !expect(s, ':')) return 0;
        }
        if (!skip_value(s, depth + 1)) return 0;
    } while (expect(s, ','));
    return expect(s, close);
}

static int skip_value(Parser *s, int depth) {
    const char *start;
    size_t n;
    skip_ws(s);
    if (s->p >= s->end) return 0;
    switch (*s->p) {
        case '"': return skip_string(s);
        case '{': return skip_container(s, '}', 1, depth);
        case '[': return skip_container(s, ']', 0, depth);
        case 't': return literal(s, "true");
        case 'f': return literal(s, "false");
        case 'n': return literal(s, "null");
        default: return number_text(s, &start, &n);
    }
}

/* true / false (null or anything else: 0, the caller falls back) */
static int boolean(Parser *s, int *out) {
    skip_ws(s);
    if (literal(s, "true")) {
        *out = 1;
        return 1;
    }
    if (literal(s, "false")) {
        *out = 0;
        return 1;
    }
    return 0;
}

/* Whether the next value is null (consumed if so). */
static int null(Parser *s) {
    skip_ws(s);
    return literal(s, "null");
}

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *p, int n, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return 1;
}

/* YYYY-MM-DDTHH:MM:SS[.f+]Z -> microseconds since 1970; fractions past 6 digits are cut, as the general path does. */
static int timestamp(const char *p, size_t n, int64_t *out) {
    static const unsigned days_in_month[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned year, month, day, hour, minute, second, micro = 0;
    if (n < 20 || p[n - 1] != 'Z' || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':')
        return 0;
    if (!digits(p, 4, &year) || !digits(p + 5, 2, &month) || !digits(p + 8, 2, &day) || !digits(p + 11, 2, &hour) ||
        !digits(p + 14, 2, &minute) || !digits(p + 17, 2, &second))
        return 0;
    if (n > 20) { /* a fraction: '.' and 1.. digits before the Z */
        size_t count = n - 21;
        if (p[19] != '.' || count == 0) return 0;
        for (size_t i = 0; i < count; i++) {
            char c = p[20 + i];
            if (c < '0' || c > '9') return 0;
            if (i < 6) micro = micro * 10 + (unsigned)(c - '0');
        }
        for (size_t i = count; i < 6; i++) micro *= 10;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return 0;
    if (day > days_in_month[month] + (month == 2 && leap)) return 0;
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    *out = seconds * 1000000 + micro;
    return 1;
}

/* An object {"key": value, ...}: ``member`` reads each value (0: the body is declined). Keys are plain strings. */
typedef int (*Member)(Parser *s, const char *key, size_t n, void *fields);

static int object(Parser *s, Member member, void *fields) {
    if (!expect(s, '{')) return 0;
    if (expect(s, '}')) return 1;
    do {
        const char *key;
        size_t n;
        if (!plain_string(s, &key, &n) || !expect(s, ':') || !member(s, key, n, fields)) return 0;
    } while (expect(s, ','));
    return expect(s, '}');
}

/* An array [item, ...]: ``item`` reads each one. */
static int array(Parser *s, int (*item)(Parser *s, void *fields), void *fields) {
    if (!expect(s, '[')) return 0;
    if (expect(s, ']')) return 1;
    do {
        if (!item(s, fields)) return 0;
    } while (expect(s, ','));
    return expect(s, ']');
}

/* The Value of a digital state: {"Name": "...", "Value": code, "IsSystem": b}; its name is added to the text. */
typedef struct {
    int is_system, has_code, has_name;
    double code;
} StateFields;

static int state_member(Parser *s, const char *key, size_t n, void *fields) {
    StateFields *f = fields;
    skip_ws(s);
    if (KEY_IS(key, n, "Name")) {
        if (f->has_name || !string(s, &s->text)) return 0;
        f->has_name = 1;
    } else if (KEY_IS(key, n, "Value")) {
        f->has_code = !null(s);
        if (f->has_code && !number(s, &f->code)) return 0;
    } else if (KEY_IS(key, n, "IsSystem")) {
        f->is_system = 0;
        if (!null(s) && !boolean(s, &f->is_system)) return 0;
    } else {
        return 0; /* an error object, or a state of another shape */
    }
    return 1;
}

static int digital_state(Parser *s, double *value, int *has_value) {
    StateFields f = {0, 0, 0, 0};
    if (!object(s, state_member, &f) || !f.has_name) return 0;
    *has_value = f.has_code && !f.is_system; /* system states (Shutdown, I/O Timeout, ...) are not numbers */
    *value = f.code;
    return 1;
}

/* Whether a value's Errors list holds anything (null and [] do not); skipped either way. */
static int errors_present(Parser *s, int *present) {
    skip_ws(s);
    if (null(s)) {
        *present = 0;
        return 1;
    }
    const char *before = s->p;
    if (s->p >= s->end || *s->p != '[') return 0;
    if (!skip_value(s, 0)) return 0;
    const char *q = before + 1;
    while (q < s->p && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
    *present = *q != ']';
    return 1;
}

/* One value of a stream: a row of every column. Its text (a string's, a state's name, True / False) is written
 * into the text buffer as it is read; the row's text ends where the buffer ends. */
typedef struct {
    int flags[4]; /* Good, Questionable, Substituted, Annotated */
    int has_stamp, has_value, has_text, seen_value, errors;
    int64_t stamp;
    double value;
} ValueFields;

static int value_member(Parser *s, const char *key, size_t n, void *fields) {
    ValueFields *f = fields;
    if (KEY_IS(key, n, "Timestamp")) {
        const char *t;
        size_t tn;
        if (!plain_string(s, &t, &tn) || !timestamp(t, tn, &f->stamp)) return 0;
        f->has_stamp = 1;
    } else if (KEY_IS(key, n, "Value")) {
        skip_ws(s);
        if (f->seen_value || s->p >= s->end) return 0; /* twice: the general decoder keeps the last */
        f->seen_value = 1;
        char c = *s->p;
        if (c == '"') {
            if (!string(s, &s->text)) return 0;
            f->has_text = 1;
        } else if (c == '{') {
            if (!digital_state(s, &f->value, &f->has_value)) return 0;
            f->has_text = 1;
        } else if (c == 't' || c == 'f') {
            int on;
            if (!boolean(s, &on) || !append(&s->text, on ? "True" : "False", on ? 4 : 5)) return 0;
            f->value = on;
            f->has_value = f->has_text = 1;
        } else if (!null(s)) {
            if (!number(s, &f->value)) return 0;
            f->has_value = 1;
        }
    } else if (KEY_IS(key, n, "Errors")) {
        return errors_present(s, &f->errors);
    } else {
        int flag = KEY_IS(key, n, "Good")           ? 0
                   : KEY_IS(key, n, "Questionable") ? 1
                   : KEY_IS(key, n, "Substituted")  ? 2
                   : KEY_IS(key, n, "Annotated")    ? 3
                                                    : -1;
        if (flag < 0) return skip_value(s, 0);
        return boolean(s, &f->flags[flag]); /* a null flag stays null: the general decoder */
    }
    return 1;
}

static int timed_value(Parser *s, void *count) {
    ValueFields f = {{1, 0, 0, 0}, 0, 0, 0, 0, 0, 0, 0}; /* the flags PI implies when it omits them */
    if (!object(s, value_member, &f)) return 0;
    if (!f.has_stamp || (!f.has_value && !f.has_text && f.errors)) return 0; /* an error's text: general decoder */
    int64_t text_end = (int64_t)s->text.size;
    if (!append(&s->stamps, &f.stamp, sizeof f.stamp) || !append(&s->values, &f.value, sizeof f.value) ||
        !append(&s->text_offsets, &text_end, sizeof text_end) || !set_bit(&s->value_valid, s->rows, f.has_value) ||
        !set_bit(&s->text_valid, s->rows, f.has_text))
        return 0;
    Buffer *flags[] = {&s->good, &s->questionable, &s->substituted, &s->annotated};
    for (int i = 0; i < 4; i++)
        if (!set_bit(flags[i], s->rows, f.flags[i])) return 0;
    s->rows++;
    (*(int64_t *)count)++;
    return 1;
}

/* One stream: {"WebId": "...", "Items": [value, ...]}. */
typedef struct {
    const char *body;
    int64_t where[2]; /* the WebId's offset in the body and its length */
    int64_t count;
    int seen_items;
} StreamFields;

static int stream_member(Parser *s, const char *key, size_t n, void *fields) {
    StreamFields *f = fields;
    if (KEY_IS(key, n, "WebId")) {
        const char *webid;
        size_t length;
        if (!plain_string(s, &webid, &length)) return 0;
        f->where[0] = webid - f->body;
        f->where[1] = (int64_t)length;
        return 1;
    }
    if (KEY_IS(key, n, "Items")) {
        if (f->seen_items) return 0; /* twice: the general decoder keeps the last list */
        f->seen_items = 1;
        return null(s) || array(s, timed_value, &f->count);
    }
    if (KEY_IS(key, n, "WebException") || KEY_IS(key, n, "Errors"))
        return null(s); /* the stream failed: the general decoder reports it */
    return skip_value(s, 0);
}

static int stream(Parser *s, void *body) {
    StreamFields f = {body, {-1, 0}, 0, 0};
    if (!object(s, stream_member, &f) || f.where[0] < 0 || f.count >= s->max_count) return 0;
    return append(&s->webids, f.where, sizeof f.where) && append(&s->counts, &f.count, sizeof f.count);
}

/* The body: {"Items": [stream, ...]}. */
typedef struct {
    const char *start;
    int has_items;
} BodyFields;

static int body_member(Parser *s, const char *key, size_t n, void *fields) {
    BodyFields *f = fields;
    if (KEY_IS(key, n, "Items")) {
        if (f->has_items) return 0;
        f->has_items = 1;
        return array(s, stream, (void *)f->start);
    }
    if (KEY_IS(key, n, "WebException")) return null(s);
    return skip_value(s, 0);
}

static int body(Parser *s) {
    BodyFields f = {s->p, 0};
    if (!object(s, body_member, &f)) return 0;
    skip_ws(s);
    return f.has_items && s->p == s->end;
}

static void release(Parser *s) {
    Buffer *all[] = {&s->webids, &s->counts, &s->stamps, &s->values, &s->value_valid, &s->text_valid, &s->good,
                     &s->questionable, &s->substituted, &s->annotated, &s->text_offsets, &s->text};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

static PyObject *as_bytes(Buffer *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->size);
}

static locale_t c_locale;

static PyObject *read_stream_set(PyObject *module, PyObject *args) {
    Py_buffer content;
    long long max_count;
    if (!PyArg_ParseTuple(args, "y*L", &content, &max_count)) return NULL;
    Parser s;
    memset(&s, 0, sizeof s);
    s.p = content.buf;
    s.end = s.p + content.len;
    s.c_locale = c_locale;
    s.max_count = max_count;
    int64_t zero = 0;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = append(&s.text_offsets, &zero, sizeof zero) && body(&s);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (!ok) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        size_t streams = s.webids.size / (2 * sizeof(int64_t));
        PyObject *webids = PyList_New((Py_ssize_t)streams);
        int64_t *where = (int64_t *)s.webids.data;
        for (size_t i = 0; webids && i < streams; i++) {
            PyObject *webid = PyUnicode_DecodeASCII((const char *)content.buf + where[2 * i], where[2 * i + 1], NULL);
            if (!webid) {
                Py_CLEAR(webids);
                break;
            }
            PyList_SET_ITEM(webids, (Py_ssize_t)i, webid);
        }
        if (webids) {
            result = Py_BuildValue("(NnNNNNNNNNNNN)", webids, (Py_ssize_t)s.rows, as_bytes(&s.counts),
                                   as_bytes(&s.stamps), as_bytes(&s.values), as_bytes(&s.value_valid),
                                   as_bytes(&s.text_offsets), as_bytes(&s.text), as_bytes(&s.text_valid),
                                   as_bytes(&s.good), as_bytes(&s.questionable), as_bytes(&s.substituted),
                                   as_bytes(&s.annotated));
        }
    }
    release(&s);
    PyBuffer_Release(&content);
    return result;
}

static PyMethodDef methods[] = {
    {"read_stream_set", read_stream_set, METH_VARARGS,
     "read_stream_set(body: bytes, max_count: int) -> tuple | None\n\n"
     "A stream-set body as Arrow buffers (WebIds, row count, values per stream, then per row: timestamps, values,\n"
     "their validity, text offsets, text, its validity, and the four quality flags as bitmaps), or None when the\n"
     "body needs the general decoder."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stream_set", NULL, -1, methods};

PyMODINIT_FUNC PyInit__stream_set(void) {
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) return PyErr_NoMemory();
    return PyModule_Create(&module);
}
