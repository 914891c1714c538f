#include "textflag.h"

// Element-wise AVX-512 loops for activations and pooling, any n: the last
// n%16 elements go through a masked load and store (masked-off lanes are
// never touched, so reading past the slice cannot fault).

// func biasActRowsAVX512(rows, n int, bias float32, src *float32, srcStride int, dst *float32, dstStride int, relu bool)
//
// For each of rows rows (strides in floats): dst[i] = src[i] + bias, then
// max(·, 0) when relu (NaN stays NaN), for i < n.
TEXT ·biasActRowsAVX512(SB), NOSPLIT, $0-57
	MOVQ rows+0(FP), R8
	MOVQ n+8(FP), BX
	VBROADCASTSS bias+16(FP), Z0
	MOVQ src+24(FP), SI
	MOVQ srcStride+32(FP), R9
	SHLQ $2, R9
	MOVQ dst+40(FP), DI
	MOVQ dstStride+48(FP), R10
	SHLQ $2, R10
	MOVBLZX relu+56(FP), AX
	VPXORD Z1, Z1, Z1
	MOVQ BX, CX
	ANDQ $15, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1
	SHRQ $4, BX
	TESTQ R8, R8
	JEQ bdone
brow:
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ BX, CX
	TESTQ CX, CX
	JEQ btail
bblock:
	VADDPS (R11), Z0, Z2
	TESTL AX, AX
	JEQ bstore
	VMAXPS Z2, Z1, Z2
bstore:
	VMOVUPS Z2, (R12)
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ CX
	JNE bblock
btail:
	VMOVUPS.Z (R11), K1, Z2
	VADDPS Z2, Z0, Z2
	TESTL AX, AX
	JEQ btailstore
	VMAXPS Z2, Z1, Z2
btailstore:
	VMOVUPS Z2, K1, (R12)
	ADDQ R9, SI
	ADDQ R10, DI
	DECQ R8
	JNE brow
bdone:
	VZEROUPPER
	RET

// func maxRowsAVX512(rows, n int, a *float32, aStride int, b *float32, bStride int, dst *float32, dstStride int)
//
// For each of rows rows (strides in floats): dst[i] = max(a[i], b[i]) for
// i < n, NaN when either is NaN.
TEXT ·maxRowsAVX512(SB), NOSPLIT, $0-64
	MOVQ rows+0(FP), R8
	MOVQ n+8(FP), BX
	MOVQ a+16(FP), SI
	MOVQ aStride+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DX
	MOVQ bStride+40(FP), R10
	SHLQ $2, R10
	MOVQ dst+48(FP), DI
	MOVQ dstStride+56(FP), R11
	SHLQ $2, R11
	MOVQ BX, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	SHRQ $4, BX
	TESTQ R8, R8
	JEQ mdone
mrow:
	MOVQ SI, R12
	MOVQ DX, R13
	MOVQ DI, AX
	MOVQ BX, CX
	TESTQ CX, CX
	JEQ mtail
mblock:
	VMOVUPS (R12), Z1
	VMAXPS (R13), Z1, Z3
	VCMPPS $3, Z1, Z1, K1
	VMOVAPS Z1, K1, Z3
	VMOVUPS Z3, (AX)
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, AX
	DECQ CX
	JNE mblock
mtail:
	VMOVUPS.Z (R12), K2, Z1
	VMOVUPS.Z (R13), K2, Z2
	VMAXPS Z2, Z1, Z3
	VCMPPS $3, Z1, Z1, K1
	VMOVAPS Z1, K1, Z3
	VMOVUPS Z3, K2, (AX)
	ADDQ R9, SI
	ADDQ R10, DX
	ADDQ R11, DI
	DECQ R8
	JNE mrow
mdone:
	VZEROUPPER
	RET

DATA evenIdx<>+0(SB)/4, $0
DATA evenIdx<>+4(SB)/4, $2
DATA evenIdx<>+8(SB)/4, $4
DATA evenIdx<>+12(SB)/4, $6
DATA evenIdx<>+16(SB)/4, $8
DATA evenIdx<>+20(SB)/4, $10
DATA evenIdx<>+24(SB)/4, $12
DATA evenIdx<>+28(SB)/4, $14
DATA evenIdx<>+32(SB)/4, $16
DATA evenIdx<>+36(SB)/4, $18
DATA evenIdx<>+40(SB)/4, $20
DATA evenIdx<>+44(SB)/4, $22
DATA evenIdx<>+48(SB)/4, $24
DATA evenIdx<>+52(SB)/4, $26
DATA evenIdx<>+56(SB)/4, $28
DATA evenIdx<>+60(SB)/4, $30
GLOBL evenIdx<>(SB), RODATA, $64

DATA oddIdx<>+0(SB)/4, $1
DATA oddIdx<>+4(SB)/4, $3
DATA oddIdx<>+8(SB)/4, $5
DATA oddIdx<>+12(SB)/4, $7
DATA oddIdx<>+16(SB)/4, $9
DATA oddIdx<>+20(SB)/4, $11
DATA oddIdx<>+24(SB)/4, $13
DATA oddIdx<>+28(SB)/4, $15
DATA oddIdx<>+32(SB)/4, $17
DATA oddIdx<>+36(SB)/4, $19
DATA oddIdx<>+40(SB)/4, $21
DATA oddIdx<>+44(SB)/4, $23
DATA oddIdx<>+48(SB)/4, $25
DATA oddIdx<>+52(SB)/4, $27
DATA oddIdx<>+56(SB)/4, $29
DATA oddIdx<>+60(SB)/4, $31
GLOBL oddIdx<>(SB), RODATA, $64

// func pairMaxAVX512(n int, src, dst *float32)
//
// dst[i] = max(src[2i], src[2i+1]) for i < n, NaN when either is NaN.
TEXT ·pairMaxAVX512(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ dst+16(FP), DI
	VMOVUPS evenIdx<>(SB), Z4
	VMOVUPS oddIdx<>(SB), Z5
	MOVQ CX, BX
	ANDQ $15, BX
	SHRQ $4, CX
	JEQ ptail
ploop:
	VMOVUPS (SI), Z1
	VMOVUPS 64(SI), Z2
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z4, Z3
	VPERMT2PS Z2, Z5, Z1
	VMAXPS Z1, Z3, Z6
	VCMPPS $3, Z3, Z3, K1
	VMOVAPS Z3, K1, Z6
	VMOVUPS Z6, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNE ploop
ptail:
	TESTQ BX, BX
	JEQ pdone
	MOVL $1, AX
	MOVQ BX, CX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	MOVL $1, AX
	SHLQ $1, CX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2
	SHRQ $16, AX
	KMOVW AX, K4
	VMOVUPS.Z (SI), K2, Z1
	VMOVUPS.Z 64(SI), K4, Z2
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z4, Z3
	VPERMT2PS Z2, Z5, Z1
	VMAXPS Z1, Z3, Z6
	VCMPPS $3, Z3, Z3, K1
	VMOVAPS Z3, K1, Z6
	VMOVUPS Z6, K3, (DI)
pdone:
	VZEROUPPER
	RET

// func transpose16AVX512(rows, width, n int, src *float32, lds int, dst *float32, ldd int)
//
// Transposes a block of up to 16×16: row j < n of dst (width floats at
// dst + j·ldd) gets column j of the rows of src (n floats at src + i·lds,
// i < rows; rows past that read as zero), with the usual 4-stage unpack and
// 128-bit-lane shuffle network. rows, width and n are 1…16.
TEXT ·transpose16AVX512(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), BX
	MOVQ width+8(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2
	MOVQ n+16(FP), CX
	MOVQ src+24(FP), SI
	MOVQ lds+32(FP), R8
	SHLQ $2, R8
	MOVQ dst+40(FP), DI
	MOVQ ldd+48(FP), R9
	SHLQ $2, R9
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VMOVUPS.Z (SI), K1, Z0
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z1
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z2
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z3
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z4
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z5
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z6
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z7
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z8
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z9
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z10
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z11
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z12
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z13
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z14
	DECQ BX
	JEQ loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z15
loaded:
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xdd, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xdd, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xdd, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xdd, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xdd, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xdd, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xdd, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xdd, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xdd, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xdd, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xdd, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xdd, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xdd, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xdd, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xdd, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xdd, Z31, Z23, Z15
	VMOVUPS Z0, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z1, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z2, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z3, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z4, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z5, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z6, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z7, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z8, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z9, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z10, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z11, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z12, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z13, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z14, K2, (DI)
	DECQ CX
	JEQ stored
	ADDQ R9, DI
	VMOVUPS Z15, K2, (DI)
stored:
	VZEROUPPER
	RET

// func reluMaskAVX512(n int, y, d, dst *float32)
//
// dst[i] = d[i] where y[i], read as an int32, is positive (y > 0 or a
// positive NaN), else +0, for i < n, n a multiple of 16.
TEXT ·reluMaskAVX512(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	MOVQ y+8(FP), SI
	MOVQ d+16(FP), DX
	MOVQ dst+24(FP), DI
	VPXORD Z0, Z0, Z0
	SHRQ $4, CX
	JEQ rdone
rloop:
	VMOVUPS (SI), Z1
	VPCMPGTD Z0, Z1, K1
	VMOVUPS.Z (DX), K1, Z2
	VMOVUPS Z2, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNE rloop
rdone:
	VZEROUPPER
	RET

// func dotBlock4x4AVX512(n int, a *float32, lda int, b0, b1, b2, b3 *float32, out *float32)
//
// Adds the 16 dot products of rows a + i·lda (i < 4) with b0…b3 over n
// floats (a multiple of 16), as 16 vectors of partial sums, to
// out[(4i+j)·16 + l].
TEXT ·dotBlock4x4AVX512(SB), NOSPLIT, $0-64
	MOVQ n+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	SHLQ $2, R8
	MOVQ b0+24(FP), R9
	MOVQ b1+32(FP), R10
	MOVQ b2+40(FP), R11
	MOVQ b3+48(FP), R12
	MOVQ out+56(FP), DI
	LEAQ (SI)(R8*1), BX
	LEAQ (BX)(R8*1), DX
	LEAQ (DX)(R8*1), R13
	XORQ AX, AX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	SHRQ $4, CX
	JEQ dstore
dloop:
	VMOVUPS (SI)(AX*1), Z0
	VMOVUPS (BX)(AX*1), Z1
	VMOVUPS (DX)(AX*1), Z2
	VMOVUPS (R13)(AX*1), Z3
	VMOVUPS (R9)(AX*1), Z4
	VMOVUPS (R10)(AX*1), Z5
	VMOVUPS (R11)(AX*1), Z6
	VMOVUPS (R12)(AX*1), Z7
	VFMADD231PS Z4, Z0, Z16
	VFMADD231PS Z5, Z0, Z17
	VFMADD231PS Z6, Z0, Z18
	VFMADD231PS Z7, Z0, Z19
	VFMADD231PS Z4, Z1, Z20
	VFMADD231PS Z5, Z1, Z21
	VFMADD231PS Z6, Z1, Z22
	VFMADD231PS Z7, Z1, Z23
	VFMADD231PS Z4, Z2, Z24
	VFMADD231PS Z5, Z2, Z25
	VFMADD231PS Z6, Z2, Z26
	VFMADD231PS Z7, Z2, Z27
	VFMADD231PS Z4, Z3, Z28
	VFMADD231PS Z5, Z3, Z29
	VFMADD231PS Z6, Z3, Z30
	VFMADD231PS Z7, Z3, Z31
	ADDQ $64, AX
	DECQ CX
	JNE dloop
dstore:
	VADDPS 0(DI), Z16, Z16
	VMOVUPS Z16, 0(DI)
	VADDPS 64(DI), Z17, Z17
	VMOVUPS Z17, 64(DI)
	VADDPS 128(DI), Z18, Z18
	VMOVUPS Z18, 128(DI)
	VADDPS 192(DI), Z19, Z19
	VMOVUPS Z19, 192(DI)
	VADDPS 256(DI), Z20, Z20
	VMOVUPS Z20, 256(DI)
	VADDPS 320(DI), Z21, Z21
	VMOVUPS Z21, 320(DI)
	VADDPS 384(DI), Z22, Z22
	VMOVUPS Z22, 384(DI)
	VADDPS 448(DI), Z23, Z23
	VMOVUPS Z23, 448(DI)
	VADDPS 512(DI), Z24, Z24
	VMOVUPS Z24, 512(DI)
	VADDPS 576(DI), Z25, Z25
	VMOVUPS Z25, 576(DI)
	VADDPS 640(DI), Z26, Z26
	VMOVUPS Z26, 640(DI)
	VADDPS 704(DI), Z27, Z27
	VMOVUPS Z27, 704(DI)
	VADDPS 768(DI), Z28, Z28
	VMOVUPS Z28, 768(DI)
	VADDPS 832(DI), Z29, Z29
	VMOVUPS Z29, 832(DI)
	VADDPS 896(DI), Z30, Z30
	VMOVUPS Z30, 896(DI)
	VADDPS 960(DI), Z31, Z31
	VMOVUPS Z31, 960(DI)
	VZEROUPPER
	RET

// func copyRowsAVX512(rows, n int, src *float32, srcStride int, dst *float32, dstStride int)
//
// For each of rows rows (strides in floats): dst[i] = src[i] for i < n.
// Short rows (an image row into a padded plane) cost a memmove call each.
TEXT ·copyRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ rows+0(FP), R8
	MOVQ n+8(FP), BX
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ dst+32(FP), DI
	MOVQ dstStride+40(FP), R10
	SHLQ $2, R10
	MOVQ BX, CX
	ANDQ $15, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	KMOVW DX, K1
	SHRQ $4, BX
	TESTQ R8, R8
	JEQ cdone
crow:
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ BX, CX
	TESTQ CX, CX
	JEQ ctail
cblock:
	VMOVUPS (R11), Z2
	VMOVUPS Z2, (R12)
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ CX
	JNE cblock
ctail:
	VMOVUPS.Z (R11), K1, Z2
	VMOVUPS Z2, K1, (R12)
	ADDQ R9, SI
	ADDQ R10, DI
	DECQ R8
	JNE crow
cdone:
	VZEROUPPER
	RET
