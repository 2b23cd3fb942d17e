/* The layout of glibc's <aio.h> structs, private fields included, that the
 * library's RawAiocb mirrors (tests/aio_c.rs compares it with the Rust side). */
#define _GNU_SOURCE
#include <aio.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#define OFF(type, field) printf(#type "." #field " %zu\n", offsetof(struct type, field))

int main(void)
{
	printf("aiocb.size %zu\n", sizeof(struct aiocb));
	printf("aiocb64.size %zu\n", sizeof(struct aiocb64));
	OFF(aiocb, aio_fildes);
	OFF(aiocb, aio_lio_opcode);
	OFF(aiocb, aio_reqprio);
	OFF(aiocb, aio_buf);
	OFF(aiocb, aio_nbytes);
	OFF(aiocb, aio_sigevent);
	OFF(aiocb, __next_prio);
	OFF(aiocb, __abs_prio);
	OFF(aiocb, __policy);
	OFF(aiocb, __error_code);
	OFF(aiocb, __return_value);
	OFF(aiocb, aio_offset);
	OFF(aiocb, __glibc_reserved);
	OFF(aiocb64, __error_code);
	OFF(aiocb64, __return_value);
	OFF(aiocb64, aio_offset);
	printf("sigevent.size %zu\n", sizeof(struct sigevent));
	OFF(sigevent, sigev_value);
	OFF(sigevent, sigev_signo);
	OFF(sigevent, sigev_notify);
	OFF(sigevent, sigev_notify_function);
	OFF(sigevent, sigev_notify_attributes);
	OFF(sigevent, _sigev_un._tid);
	printf("aioinit.size %zu\n", sizeof(struct aioinit));
	OFF(aioinit, aio_threads);
	OFF(aioinit, aio_num);
	OFF(aioinit, aio_idle_time);
	printf("AIO_PRIO_DELTA_MAX %d\n", AIO_PRIO_DELTA_MAX);
	printf("SI_ASYNCIO %d\n", SI_ASYNCIO);
	return 0;
}
