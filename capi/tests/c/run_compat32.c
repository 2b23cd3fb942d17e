/*
 * run_compat32.c - the 64-bit side of the compat test: reads a batch a
 * 32-bit producer wrote (stdin), runs it with syslet_validate_compat32 +
 * syslet_run, copies the outputs back in the i386 layout and prints what the
 * producer would read: "size=N fd_ok=1 status=S", or "refused code=C atom=A
 * syscall=NAME: MESSAGE".
 */
#include <stdio.h>
#include <string.h>

#include <syslet_compat.h>
#include <syslets.h>

int main(void)
{
	static unsigned char bytes[1 << 16];
	const struct syslet_batch_header *h = (const struct syslet_batch_header *)bytes;
	const struct syslet_buf_desc *bufs;
	struct syslet_compat_stat64 st;
	struct syslet_completion c;
	struct syslet_error e;
	syslet_batch *batch;
	size_t len = fread(bytes, 1, sizeof bytes, stdin);

	if (len < SYSLET_HEADER_SIZE || !feof(stdin))
		return 2;
	/* A compat batch is no native one. */
	if (syslet_validate(bytes, len, NULL, &e) != NULL || e.code != SYSLET_E_INVALID) {
		printf("a compat batch passed native validation\n");
		return 1;
	}
	batch = syslet_validate_compat32(bytes, len, NULL, &e);
	if (!batch) {
		printf("refused code=%d atom=%d syscall=%s: %s\n", e.code, e.atom, e.syscall,
		       e.message);
		return 0;
	}
	if (syslet_run(batch, &c, &e) != SYSLET_OK ||
	    syslet_batch_copy_out(batch, bytes, len, &e) != SYSLET_OK) {
		printf("run: %s\n", e.message);
		return 1;
	}
	bufs = (const struct syslet_buf_desc *)(bytes + SYSLET_HEADER_SIZE +
						SYSLET_COMPAT_ATOMS_LEN(h->natoms));
	memcpy(&st, (const unsigned char *)(bufs + h->nbufs) + bufs[1].offset, sizeof st);
	printf("size=%lld fd_ok=%d status=%lld atoms_run=%u\n", (long long)st.st_size,
	       c.results[0] >= 0, (long long)c.status, (unsigned)c.atoms_run);
	syslet_batch_free(batch);
	return 0;
}
