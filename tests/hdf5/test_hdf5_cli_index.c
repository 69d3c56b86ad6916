/* `zarrtraj index` (programs/cmd_index.c, compiled in here and called like
 * the dispatcher does): writes a usable reference file; one-line errors. */
#include "zarr/zarr.h"
#include "h5test.h"

#include "../../programs/cmd_index.c"

int main(void) {
#ifdef ZT_HAVE_HDF5
    setenv("ZARRTRAJ_INDEX_CACHE", "0", 1);
    char *dir = zt_test_tmpdir("h5cli");
    char *in = zt_test_data("mdanalysis/test.h5md");
    char *out = zt__asprintf("%s/refs.json", dir);
    char *argv1[] = {"index", in, "-o", out, "-S", "index_cache=false", NULL};
    CHECK_EQ_INT(zt_cmd_index(6, argv1), 0);
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    CHECK(j && json_integer_value(json_object_get(j, "version")) == 1);
    json_t *refs = json_object_get(j, "refs");
    json_t *za = json_object_get(refs, "particles/trajectory/position/value/.zarray");
    CHECK(json_is_string(za));
    json_t *c = json_object_get(refs, "particles/trajectory/position/value/0.0.0");
    CHECK(json_is_array(c) && json_array_size(c) == 3 && json_string_value(json_array_get(c, 0))[0] == '/');
    json_decref(j);
    /* the reference store serves it to the Zarr layer */
    zt_store *s = NULL;
    CHECK_OK(zt__store_refs_open(out, NULL, &s));
    zt_tree *t = NULL;
    if (s && zt__zarr_open_tree(s, out, &t) != 0) zt__store_close(s);
    zt_node *pv = t ? zt__node_find(t->root, "particles/trajectory/position/value") : NULL;
    CHECK(pv && pv->array && pv->array->shape[0] == 5);
    if (pv && pv->array) {
        double *v = NULL;
        size_t n = 0;
        CHECK_OK(zt__array_read_all_f64(pv->array, &v, &n));
        /* mdanalysis/test.h5md: position[-1][-1] = [192, 208, 224] (expected.json) */
        CHECK(n == 75 && v && v[72] == 192 && v[73] == 208 && v[74] == 224);
        free(v);
    }
    zt__tree_free(t);
    /* errors: exit status 1 */
    char *bad = zt_test_data("negative/not_hdf5_text.h5md");
    char *argv2[] = {"index", bad, NULL};
    CHECK_EQ_INT(zt_cmd_index(2, argv2), 1);
    char *argv3[] = {"index", NULL};
    CHECK_EQ_INT(zt_cmd_index(1, argv3), 1);
    char *argv4[] = {"index", "--help", NULL};
    CHECK_EQ_INT(zt_cmd_index(2, argv4), 0);
    free(bad);
    zt_test_system("rm -rf '%s'", dir);
    free(dir);
    free(in);
    free(out);
#endif
    TEST_DONE();
}
