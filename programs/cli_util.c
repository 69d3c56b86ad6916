/* placeholder */
typedef int zt__cli_util_placeholder;
