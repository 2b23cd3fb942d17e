/* Keep a file in the page cache while a benchmark runs: map it, lock the
 * mapping (mlock), and wait until stdin is closed. Locked page-cache pages
 * survive `echo 3 > /proc/sys/vm/drop_caches` and fadvise(DONTNEED), which
 * other processes on a shared machine may issue at any time.
 * Used by benches/aio_fio.sh for the page-cached case. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE (runs until stdin closes)\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	void *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || mlock(p, st.st_size) != 0) {
		perror("mmap/mlock");
		return 1;
	}
	printf("locked %lld bytes\n", (long long)st.st_size);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
