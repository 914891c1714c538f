#include "textflag.h"

// The 12×32 micro-kernels share their accumulators: Z8+2i and Z9+2i hold
// row i of the tile, columns 0-15 and 16-31.
#define ZERO_ACCUMULATORS \
	VPXORD Z8, Z8, Z8;\
	VPXORD Z9, Z9, Z9;\
	VPXORD Z10, Z10, Z10;\
	VPXORD Z11, Z11, Z11;\
	VPXORD Z12, Z12, Z12;\
	VPXORD Z13, Z13, Z13;\
	VPXORD Z14, Z14, Z14;\
	VPXORD Z15, Z15, Z15;\
	VPXORD Z16, Z16, Z16;\
	VPXORD Z17, Z17, Z17;\
	VPXORD Z18, Z18, Z18;\
	VPXORD Z19, Z19, Z19;\
	VPXORD Z20, Z20, Z20;\
	VPXORD Z21, Z21, Z21;\
	VPXORD Z22, Z22, Z22;\
	VPXORD Z23, Z23, Z23;\
	VPXORD Z24, Z24, Z24;\
	VPXORD Z25, Z25, Z25;\
	VPXORD Z26, Z26, Z26;\
	VPXORD Z27, Z27, Z27;\
	VPXORD Z28, Z28, Z28;\
	VPXORD Z29, Z29, Z29;\
	VPXORD Z30, Z30, Z30;\
	VPXORD Z31, Z31, Z31;

// FMA_ROWS adds the B row in Z0 (columns 0-15) and Z1 (16-31) times each of
// the 12 packed A values at SI.
#define FMA_ROWS \
	VFMADD231PS.BCST 0(SI), Z0, Z8;\
	VFMADD231PS.BCST 0(SI), Z1, Z9;\
	VFMADD231PS.BCST 4(SI), Z0, Z10;\
	VFMADD231PS.BCST 4(SI), Z1, Z11;\
	VFMADD231PS.BCST 8(SI), Z0, Z12;\
	VFMADD231PS.BCST 8(SI), Z1, Z13;\
	VFMADD231PS.BCST 12(SI), Z0, Z14;\
	VFMADD231PS.BCST 12(SI), Z1, Z15;\
	VFMADD231PS.BCST 16(SI), Z0, Z16;\
	VFMADD231PS.BCST 16(SI), Z1, Z17;\
	VFMADD231PS.BCST 20(SI), Z0, Z18;\
	VFMADD231PS.BCST 20(SI), Z1, Z19;\
	VFMADD231PS.BCST 24(SI), Z0, Z20;\
	VFMADD231PS.BCST 24(SI), Z1, Z21;\
	VFMADD231PS.BCST 28(SI), Z0, Z22;\
	VFMADD231PS.BCST 28(SI), Z1, Z23;\
	VFMADD231PS.BCST 32(SI), Z0, Z24;\
	VFMADD231PS.BCST 32(SI), Z1, Z25;\
	VFMADD231PS.BCST 36(SI), Z0, Z26;\
	VFMADD231PS.BCST 36(SI), Z1, Z27;\
	VFMADD231PS.BCST 40(SI), Z0, Z28;\
	VFMADD231PS.BCST 40(SI), Z1, Z29;\
	VFMADD231PS.BCST 44(SI), Z0, Z30;\
	VFMADD231PS.BCST 44(SI), Z1, Z31;

// STORE_ADD adds the tile to C at DX (row stride R8 bytes); STORE_ASSIGN
// overwrites it.
#define STORE_ADD \
	VADDPS (DX), Z8, Z8;\
	VMOVUPS Z8, (DX);\
	VADDPS 64(DX), Z9, Z9;\
	VMOVUPS Z9, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z10, Z10;\
	VMOVUPS Z10, (DX);\
	VADDPS 64(DX), Z11, Z11;\
	VMOVUPS Z11, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z12, Z12;\
	VMOVUPS Z12, (DX);\
	VADDPS 64(DX), Z13, Z13;\
	VMOVUPS Z13, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z14, Z14;\
	VMOVUPS Z14, (DX);\
	VADDPS 64(DX), Z15, Z15;\
	VMOVUPS Z15, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z16, Z16;\
	VMOVUPS Z16, (DX);\
	VADDPS 64(DX), Z17, Z17;\
	VMOVUPS Z17, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z18, Z18;\
	VMOVUPS Z18, (DX);\
	VADDPS 64(DX), Z19, Z19;\
	VMOVUPS Z19, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z20, Z20;\
	VMOVUPS Z20, (DX);\
	VADDPS 64(DX), Z21, Z21;\
	VMOVUPS Z21, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z22, Z22;\
	VMOVUPS Z22, (DX);\
	VADDPS 64(DX), Z23, Z23;\
	VMOVUPS Z23, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z24, Z24;\
	VMOVUPS Z24, (DX);\
	VADDPS 64(DX), Z25, Z25;\
	VMOVUPS Z25, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z26, Z26;\
	VMOVUPS Z26, (DX);\
	VADDPS 64(DX), Z27, Z27;\
	VMOVUPS Z27, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z28, Z28;\
	VMOVUPS Z28, (DX);\
	VADDPS 64(DX), Z29, Z29;\
	VMOVUPS Z29, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z30, Z30;\
	VMOVUPS Z30, (DX);\
	VADDPS 64(DX), Z31, Z31;\
	VMOVUPS Z31, 64(DX);

#define STORE_ASSIGN \
	VMOVUPS Z8, (DX);\
	VMOVUPS Z9, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z10, (DX);\
	VMOVUPS Z11, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z12, (DX);\
	VMOVUPS Z13, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z14, (DX);\
	VMOVUPS Z15, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z16, (DX);\
	VMOVUPS Z17, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z18, (DX);\
	VMOVUPS Z19, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z20, (DX);\
	VMOVUPS Z21, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z22, (DX);\
	VMOVUPS Z23, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z24, (DX);\
	VMOVUPS Z25, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z26, (DX);\
	VMOVUPS Z27, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z28, (DX);\
	VMOVUPS Z29, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z30, (DX);\
	VMOVUPS Z31, 64(DX);

// The 4-row variants: rows 0-3 of a 12-row packed panel (partial panels
// of small output-channel counts, where a 12-row tile would mostly multiply
// padding).
#define ZERO_ACCUMULATORS4 \
	VPXORD Z8, Z8, Z8;\
	VPXORD Z9, Z9, Z9;\
	VPXORD Z10, Z10, Z10;\
	VPXORD Z11, Z11, Z11;\
	VPXORD Z12, Z12, Z12;\
	VPXORD Z13, Z13, Z13;\
	VPXORD Z14, Z14, Z14;\
	VPXORD Z15, Z15, Z15;

#define FMA_ROWS4 \
	VFMADD231PS.BCST 0(SI), Z0, Z8;\
	VFMADD231PS.BCST 0(SI), Z1, Z9;\
	VFMADD231PS.BCST 4(SI), Z0, Z10;\
	VFMADD231PS.BCST 4(SI), Z1, Z11;\
	VFMADD231PS.BCST 8(SI), Z0, Z12;\
	VFMADD231PS.BCST 8(SI), Z1, Z13;\
	VFMADD231PS.BCST 12(SI), Z0, Z14;\
	VFMADD231PS.BCST 12(SI), Z1, Z15;

#define STORE_ADD4 \
	VADDPS (DX), Z8, Z8;\
	VMOVUPS Z8, (DX);\
	VADDPS 64(DX), Z9, Z9;\
	VMOVUPS Z9, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z10, Z10;\
	VMOVUPS Z10, (DX);\
	VADDPS 64(DX), Z11, Z11;\
	VMOVUPS Z11, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z12, Z12;\
	VMOVUPS Z12, (DX);\
	VADDPS 64(DX), Z13, Z13;\
	VMOVUPS Z13, 64(DX);\
	ADDQ R8, DX;\
	VADDPS (DX), Z14, Z14;\
	VMOVUPS Z14, (DX);\
	VADDPS 64(DX), Z15, Z15;\
	VMOVUPS Z15, 64(DX);

#define STORE_ASSIGN4 \
	VMOVUPS Z8, (DX);\
	VMOVUPS Z9, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z10, (DX);\
	VMOVUPS Z11, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z12, (DX);\
	VMOVUPS Z13, 64(DX);\
	ADDQ R8, DX;\
	VMOVUPS Z14, (DX);\
	VMOVUPS Z15, 64(DX);

// func sgemmKernel12x32(k int, a, b, c *float32, ldc int, add bool)
//
// C[12×32] (row stride ldc floats) = Ap·Bp, plus C's old value when add,
// where Ap holds k columns of 12
// packed rows (Ap[p*12+i]) and Bp k rows of 32 packed columns (Bp[p*32+j]).
TEXT ·sgemmKernel12x32(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	ZERO_ACCUMULATORS
	TESTQ CX, CX
	JEQ store
loop:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	FMA_ROWS
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNE loop
store:
	MOVBLZX add+40(FP), AX
	TESTL AX, AX
	JEQ assign
	STORE_ADD
	VZEROUPPER
	RET
assign:
	STORE_ASSIGN
	VZEROUPPER
	RET

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	RET

// func axpyAVX512(n int, a float32, x, y *float32)
//
// y[i] += a·x[i] for i < n, n a multiple of 16.
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	VBROADCASTSS a+8(FP), Z0
	MOVQ x+16(FP), SI
	MOVQ y+24(FP), DI
	SHRQ $4, CX
	JEQ done
loop:
	VMOVUPS (DI), Z1
	VFMADD231PS (SI), Z0, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNE loop
done:
	VZEROUPPER
	RET

// func sgemmKernel12x32Offs(k int, a, b *float32, offs *int, c *float32, ldc int, add bool)
//
// sgemmKernel12x32 with B read in place: row p of the 12×32 product's B is
// the 32 floats at b + offs[p] bytes (offs holds byte offsets). Conv uses it
// on a padded input, where each kernel tap's row is a contiguous slice.
TEXT ·sgemmKernel12x32Offs(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R9
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	ZERO_ACCUMULATORS
	TESTQ CX, CX
	JEQ ostore
oloop:
	MOVQ (R9), R10
	VMOVUPS (DI)(R10*1), Z0
	VMOVUPS 64(DI)(R10*1), Z1
	FMA_ROWS
	ADDQ $48, SI
	ADDQ $8, R9
	DECQ CX
	JNE oloop
ostore:
	MOVBLZX add+48(FP), AX
	TESTL AX, AX
	JEQ oassign
	STORE_ADD
	VZEROUPPER
	RET
oassign:
	STORE_ASSIGN
	VZEROUPPER
	RET

// func sgemmKernel12x32Strided(k int, a, b0, b1 *float32, ldb int, c *float32, ldc int, add bool)
//
// sgemmKernel12x32 with B read in place in two halves: row p of B is the 16
// floats at b0 + p·ldb and the 16 at b1 + p·ldb (ldb in floats). Conv's
// weight gradient uses it on a channel-minor padded input, where the 16
// channels of one kernel tap at consecutive output positions lie ldb apart.
TEXT ·sgemmKernel12x32Strided(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), R10
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	ZERO_ACCUMULATORS
	TESTQ CX, CX
	JEQ sstore
sloop:
	VMOVUPS (DI), Z0
	VMOVUPS (R10), Z1
	FMA_ROWS
	ADDQ $48, SI
	ADDQ R11, DI
	ADDQ R11, R10
	DECQ CX
	JNE sloop
sstore:
	MOVBLZX add+56(FP), AX
	TESTL AX, AX
	JEQ sassign
	STORE_ADD
	VZEROUPPER
	RET
sassign:
	STORE_ASSIGN
	VZEROUPPER
	RET

// func sgemmKernel4x32Offs(k int, a, b *float32, offs *int64, c *float32, ldc int, add bool)
//
// sgemmKernel12x32Offs for rows 0-3 of the packed panel a (still 12 values
// per k) into a 4×32 tile.
TEXT ·sgemmKernel4x32Offs(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R9
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	ZERO_ACCUMULATORS4
	TESTQ CX, CX
	JEQ store4o
loop4o:
	MOVQ (R9), R10
	VMOVUPS (DI)(R10*1), Z0
	VMOVUPS 64(DI)(R10*1), Z1
	FMA_ROWS4
	ADDQ $48, SI
	ADDQ $8, R9
	DECQ CX
	JNE loop4o
store4o:
	MOVBLZX add+48(FP), AX
	TESTL AX, AX
	JEQ assign4o
	STORE_ADD4
	VZEROUPPER
	RET
assign4o:
	STORE_ASSIGN4
	VZEROUPPER
	RET

// func sgemmKernel4x32Strided(k int, a, b0, b1 *float32, ldb int, c *float32, ldc int, add bool)
//
// sgemmKernel12x32Strided for rows 0-3 of the packed panel a.
TEXT ·sgemmKernel4x32Strided(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), R10
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	ZERO_ACCUMULATORS4
	TESTQ CX, CX
	JEQ store4s
loop4s:
	VMOVUPS (DI), Z0
	VMOVUPS (R10), Z1
	FMA_ROWS4
	ADDQ $48, SI
	ADDQ R11, DI
	ADDQ R11, R10
	DECQ CX
	JNE loop4s
store4s:
	MOVBLZX add+56(FP), AX
	TESTL AX, AX
	JEQ assign4s
	STORE_ADD4
	VZEROUPPER
	RET
assign4s:
	STORE_ASSIGN4
	VZEROUPPER
	RET
