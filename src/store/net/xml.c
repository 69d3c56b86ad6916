/* A small, strict-enough XML parser for S3/Azure responses (listings,
 * errors, multipart ids). Builds a tree of elements with their text;
 * attributes, comments, processing instructions and DOCTYPE are skipped.
 * Malformed input (unbalanced tags, bad entities, truncation, absurd depth)
 * gives NULL instead of a partial tree, so a broken listing is an error. */
#include "store/net/net.h"

#include <stdlib.h>
#include <string.h>

#define ZT_XML_MAX_DEPTH 64

typedef struct {
    const char *p, *end;
    const char *err;
} zt_xp;

void zt__xml_free(zt_xml *x) {
    while (x) {
        zt_xml *n = x->next;
        zt__xml_free(x->child);
        free(x->name);
        free(x->text);
        free(x);
        x = n;
    }
}

static bool zt__xml_namechar(char c) {
    return c && !strchr(" \t\r\n/>=<\"'", c);
}

/* Append s[0..n) to *text, decoding entities. */
static int zt__xml_text_append(zt_xp *xp, char **text, size_t *tl, const char *s, size_t n,
                               bool decode) {
    char *t = realloc(*text, *tl + n + 1);
    if (!t) {
        xp->err = "out of memory";
        return -1;
    }
    *text = t;
    size_t k = *tl;
    for (size_t i = 0; i < n; i++) {
        if (!decode || s[i] != '&') {
            t[k++] = s[i];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i);
        if (!semi || semi - (s + i) > 12) {
            xp->err = "bad entity";
            return -1;
        }
        size_t el = (size_t)(semi - (s + i)) - 1;
        const char *e = s + i + 1;
        unsigned long cp = 0;
        if (el == 2 && !memcmp(e, "lt", 2)) cp = '<';
        else if (el == 2 && !memcmp(e, "gt", 2)) cp = '>';
        else if (el == 3 && !memcmp(e, "amp", 3)) cp = '&';
        else if (el == 4 && !memcmp(e, "quot", 4)) cp = '"';
        else if (el == 4 && !memcmp(e, "apos", 4)) cp = '\'';
        else if (el >= 2 && e[0] == '#') {
            char *stop;
            char num[16];
            memcpy(num, e + 1, el - 1);
            num[el - 1] = 0;
            cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &stop, 16)
                                                  : strtoul(num, &stop, 10);
            if (*stop || cp == 0 || cp > 0x10FFFF) {
                xp->err = "bad character reference";
                return -1;
            }
        } else {
            xp->err = "unknown entity";
            return -1;
        }
        /* UTF-8 encode (at most 4 bytes; the entity took at least 4). */
        if (cp < 0x80) t[k++] = (char)cp;
        else if (cp < 0x800) {
            t[k++] = (char)(0xC0 | cp >> 6);
            t[k++] = (char)(0x80 | (cp & 63));
        } else if (cp < 0x10000) {
            t[k++] = (char)(0xE0 | cp >> 12);
            t[k++] = (char)(0x80 | ((cp >> 6) & 63));
            t[k++] = (char)(0x80 | (cp & 63));
        } else {
            t[k++] = (char)(0xF0 | cp >> 18);
            t[k++] = (char)(0x80 | ((cp >> 12) & 63));
            t[k++] = (char)(0x80 | ((cp >> 6) & 63));
            t[k++] = (char)(0x80 | (cp & 63));
        }
        i += el + 1;
    }
    t[k] = 0;
    *tl = k;
    return 0;
}

static bool zt__xml_skip(zt_xp *xp, const char *close) {
    size_t cl = strlen(close);
    for (const char *q = xp->p; q + cl <= xp->end; q++)
        if (!memcmp(q, close, cl)) {
            xp->p = q + cl;
            return true;
        }
    xp->err = "unterminated markup";
    return false;
}

/* Parse the content of an element up to and including its end tag. */
static int zt__xml_content(zt_xp *xp, zt_xml *el, int depth) {
    size_t tl = el->text ? strlen(el->text) : 0;
    zt_xml **tail = &el->child;
    while (xp->p < xp->end) {
        const char *lt = memchr(xp->p, '<', (size_t)(xp->end - xp->p));
        const char *stop = lt ? lt : xp->end;
        if (stop > xp->p && zt__xml_text_append(xp, &el->text, &tl, xp->p, (size_t)(stop - xp->p), true))
            return -1;
        xp->p = stop;
        if (!lt) break;
        size_t left = (size_t)(xp->end - xp->p);
        if (left >= 4 && !memcmp(xp->p, "<!--", 4)) {
            xp->p += 4;
            if (!zt__xml_skip(xp, "-->")) return -1;
        } else if (left >= 9 && !memcmp(xp->p, "<![CDATA[", 9)) {
            const char *s = xp->p + 9;
            xp->p = s;
            if (!zt__xml_skip(xp, "]]>")) return -1;
            if (zt__xml_text_append(xp, &el->text, &tl, s, (size_t)(xp->p - 3 - s), false)) return -1;
        } else if (left >= 2 && (xp->p[1] == '?' || xp->p[1] == '!')) {
            xp->p += 2;
            if (!zt__xml_skip(xp, ">")) return -1;
        } else if (left >= 2 && xp->p[1] == '/') {
            const char *n = xp->p + 2, *q = n;
            while (q < xp->end && zt__xml_namechar(*q)) q++;
            const char *colon = memchr(n, ':', (size_t)(q - n));
            if (colon) n = colon + 1;
            if (!el->name || strlen(el->name) != (size_t)(q - n) || memcmp(el->name, n, (size_t)(q - n))) {
                xp->err = "mismatched end tag";
                return -1;
            }
            while (q < xp->end && strchr(" \t\r\n", *q)) q++;
            if (q >= xp->end || *q != '>') {
                xp->err = "bad end tag";
                return -1;
            }
            xp->p = q + 1;
            return 0;
        } else {
            if (depth >= ZT_XML_MAX_DEPTH) {
                xp->err = "nesting too deep";
                return -1;
            }
            const char *n = xp->p + 1, *q = n;
            while (q < xp->end && zt__xml_namechar(*q)) q++;
            if (q == n) {
                xp->err = "bad start tag";
                return -1;
            }
            const char *colon = memchr(n, ':', (size_t)(q - n));
            const char *ln = colon ? colon + 1 : n;
            zt_xml *c = calloc(1, sizeof *c);
            if (!c || !(c->name = zt__strndup(ln, (size_t)(q - ln)))) {
                free(c);
                xp->err = "out of memory";
                return -1;
            }
            *tail = c;
            tail = &c->next;
            /* Skip attributes, honouring quotes. */
            char quote = 0;
            while (q < xp->end && (quote || *q != '>')) {
                if (quote && *q == quote) quote = 0;
                else if (!quote && (*q == '"' || *q == '\'')) quote = *q;
                else if (!quote && *q == '<') break;
                q++;
            }
            if (q >= xp->end || *q != '>') {
                xp->err = "unterminated start tag";
                return -1;
            }
            bool empty = q[-1] == '/';
            xp->p = q + 1;
            if (!empty && zt__xml_content(xp, c, depth + 1)) return -1;
        }
    }
    if (el->name) {
        xp->err = "unexpected end of document";
        return -1;
    }
    return 0;
}

zt_xml *zt__xml_parse(const char *s, size_t n) {
    zt_xp xp = {s, s + n, NULL};
    zt_xml doc = {0};
    int rc = s ? zt__xml_content(&xp, &doc, 0) : -1;
    free(doc.text);
    /* Exactly one root element. */
    if (rc == 0 && (!doc.child || doc.child->next)) {
        rc = -1;
        xp.err = "no single root element";
    }
    if (rc) {
        zt__xml_free(doc.child);
        zt__err(ZT_EFORMAT, "malformed XML response (%s)", xp.err ? xp.err : "empty");
        return NULL;
    }
    return doc.child;
}

zt_xml *zt__xml_child(const zt_xml *x, const char *name) {
    for (zt_xml *c = x ? x->child : NULL; c; c = c->next)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

const char *zt__xml_text(const zt_xml *x, const char *path) {
    char seg[128];
    const char *p = path;
    while (x && *p) {
        const char *sl = strchr(p, '/');
        size_t l = sl ? (size_t)(sl - p) : strlen(p);
        if (l >= sizeof seg) return NULL;
        memcpy(seg, p, l);
        seg[l] = 0;
        x = zt__xml_child(x, seg);
        p += l + (sl ? 1 : 0);
    }
    if (!x) return NULL;
    return x->text ? x->text : "";
}
