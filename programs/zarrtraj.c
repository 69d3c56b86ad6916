#include "zarrtraj.h"
#include <stdio.h>
int main(void) { printf("zarrtraj %s\n", zt_version()); return 0; }
