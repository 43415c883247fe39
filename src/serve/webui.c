/* The web page at / : src/serve/webui.html (one self-contained HTML/JS file, no network access)
 * embedded in the binary as it is (.incbin; the Makefile makes webui.o depend on the HTML). */
#include "serve/serve.h"

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        "ct_serve_webui_start:\n"
        ".incbin \"src/serve/webui.html\"\n"
        "ct_serve_webui_end:\n"
        ".byte 0\n"
        ".popsection\n");

extern const char ct_serve_webui_start[], ct_serve_webui_end[];

const char *srv_webui_html(size_t *len) {
    *len = (size_t)(ct_serve_webui_end - ct_serve_webui_start);
    return ct_serve_webui_start;
}
