// The one translation unit that compiles stb's implementations (header-only use of Debian's libstb-dev
// headers, so the same code builds where only the headers were copied, e.g. the GPU machine).
// The formats stylize reads: PNG, JPEG, BMP, GIF, TGA and PNM. Photoshop, Radiance HDR and Softimage
// PIC decoders are compiled out: nobody hands those to a style transfer, and every decoder left in is
// code that a hostile file can reach (the image fuzzer has found four bugs in the others; image.cpp).
#define STBI_NO_PSD
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
