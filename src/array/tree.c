/* Node tree of a trajectory file (format detection: src/format/registry.c). */
#include "array/array.h"

#include <stdlib.h>
#include <string.h>

zt_node *zt__node_new(const char *name, zt_node *parent, bool is_array) {
    zt_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->name = strdup(name ? name : "");
    n->path = parent && parent->path[0] ? zt__path_join(parent->path, name) : strdup(name ? name : "");
    n->attrs = json_object();
    n->is_array = is_array;
    n->parent = parent;
    if (!n->name || !n->path || !n->attrs) {
        zt__node_free(n);
        return NULL;
    }
    return n;
}

void zt__node_free(zt_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n_children; i++) zt__node_free(n->children[i]);
    free(n->children);
    json_decref(n->attrs);
    json_decref(n->value);
    zt__array_free(n->array);
    free(n->name);
    free(n->path);
    free(n);
}

int zt__node_add_child(zt_node *p, zt_node *c) {
    zt_node **ch = realloc(p->children, (p->n_children + 1) * sizeof *ch);
    if (!ch) return zt__err(ZT_ENOMEM, "out of memory");
    p->children = ch;
    size_t i = p->n_children;
    while (i > 0 && strcmp(ch[i - 1]->name, c->name) > 0) {
        ch[i] = ch[i - 1];
        i--;
    }
    ch[i] = c;
    p->n_children++;
    c->parent = p;
    return 0;
}

zt_node *zt__node_child(const zt_node *n, const char *name) {
    return zt__node_childn(n, name, strlen(name));
}

zt_node *zt__node_childn(const zt_node *n, const char *name, size_t len) {
    if (!n) return NULL;
    for (size_t i = 0; i < n->n_children; i++) {
        const char *c = n->children[i]->name;
        if (!strncmp(c, name, len) && c[len] == 0) return n->children[i];
    }
    return NULL;
}

zt_node *zt__node_find(const zt_node *n, const char *path) {
    const zt_node *cur = n;
    while (cur && path && *path) {
        while (*path == '/') path++;
        if (!*path) break;
        const char *e = strchr(path, '/');
        size_t l = e ? (size_t)(e - path) : strlen(path);
        cur = zt__node_childn(cur, path, l);
        path += l;
    }
    return (zt_node *)cur;
}

const char *zt__attr_str(const zt_node *n, const char *key) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool zt__attr_int(const zt_node *n, const char *key, int64_t *out) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    /* integral and in range (the cast of anything else is undefined) */
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return true;
    }
    return false;
}

bool zt__attr_num(const zt_node *n, const char *key, double *out) {
    json_t *v = n ? json_object_get(n->attrs, key) : NULL;
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    return false;
}

void zt__tree_free(zt_tree *t) {
    if (!t) return;
    zt__node_free(t->root);
    if (t->impl_free) t->impl_free(t);
    zt__store_close(t->store);
    free(t->url);
    free(t);
}
