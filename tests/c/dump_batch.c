/*
 * dump_batch.c - read a batch buffer from a file with the structs of
 * abi/include/syslet.h and print every field, one a line:
 *
 *   header.natoms 3
 *   atom[1].arg_kind 1 2 0 0 0 0
 *   atom[1].arg 0 4294967296 0 0 0 0
 *   buf[0].len 14
 *   arena 2f746d70...
 *
 * tests/abi_conformance.rs encodes a batch in Rust, runs this (built with cc
 * and cc -m32) on it, and compares the lines with what it encoded.
 * Usage: dump_batch FILE. Exits 2 on a malformed file, saying why.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslet.h"

static void die(const char *what)
{
	fprintf(stderr, "dump_batch: %s\n", what);
	exit(2);
}

int main(int argc, char **argv)
{
	FILE *f;
	unsigned char *bytes;
	long len;
	size_t size, at, i, j;
	struct syslet_batch_header h;

	if (argc != 2)
		die("usage: dump_batch FILE");
	f = fopen(argv[1], "rb");
	if (!f)
		die("cannot open the batch file");
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot size the batch file");
	size = (size_t)len;
	if (size < sizeof h)
		die("shorter than a header");
	bytes = (unsigned char *)malloc(size);
	if (!bytes || fread(bytes, 1, size, f) != size)
		die("cannot read the batch file");
	fclose(f);

	/* memcpy into the header's structs: the file's bytes are the ABI. */
	memcpy(&h, bytes, sizeof h);
	if (size != sizeof h + (size_t)h.natoms * sizeof(struct syslet_atom) +
			    (size_t)h.nbufs * sizeof(struct syslet_buf_desc) + h.arena_len)
		die("size does not match the header's counts");

	printf("header.magic %" PRIu32 "\n", h.magic);
	printf("header.version %u\n", (unsigned)h.version);
	printf("header.natoms %u\n", (unsigned)h.natoms);
	printf("header.nbufs %u\n", (unsigned)h.nbufs);
	printf("header.flags %u\n", (unsigned)h.flags);
	printf("header.arena_len %" PRIu32 "\n", h.arena_len);
	printf("header.caller_data %" PRIu64 "\n", (uint64_t)h.caller_data);
	printf("header.reserved %" PRIu64 "\n", (uint64_t)h.reserved);

	at = sizeof h;
	for (i = 0; i < h.natoms; i++, at += sizeof(struct syslet_atom)) {
		struct syslet_atom a;

		memcpy(&a, bytes + at, sizeof a);
		printf("atom[%zu].flags %" PRIu32 "\n", i, a.flags);
		printf("atom[%zu].nr %" PRIu32 "\n", i, a.nr);
		printf("atom[%zu].arg_kind", i);
		for (j = 0; j < SYSLET_MAX_ARGS; j++)
			printf(" %u", (unsigned)a.arg_kind[j]);
		printf("\natom[%zu].nargs %u\n", i, (unsigned)a.nargs);
		printf("atom[%zu].arg", i);
		for (j = 0; j < SYSLET_MAX_ARGS; j++)
			printf(" %" PRIu64, (uint64_t)a.arg[j]);
		printf("\natom[%zu].private_data %" PRIu64 "\n", i, (uint64_t)a.private_data);
		printf("atom[%zu].reserved %" PRIu64 "\n", i, (uint64_t)a.reserved);
	}
	for (i = 0; i < h.nbufs; i++, at += sizeof(struct syslet_buf_desc)) {
		struct syslet_buf_desc d;

		memcpy(&d, bytes + at, sizeof d);
		printf("buf[%zu].offset %" PRIu32 "\n", i, d.offset);
		printf("buf[%zu].len %" PRIu32 "\n", i, d.len);
		printf("buf[%zu].flags %" PRIu32 "\n", i, d.flags);
		printf("buf[%zu].reserved %" PRIu32 "\n", i, d.reserved);
	}
	printf("arena ");
	for (; at < size; at++)
		printf("%02x", (unsigned)bytes[at]);
	printf("\n");
	free(bytes);
	return fflush(stdout) == 0 ? 0 : 1;
}
