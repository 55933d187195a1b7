#include "anonutil.h"
int main(void){return 0;}
