/* STREAM-style Copy (b[i] = a[i]) with one OpenMP thread per core: an independent reference for gpubench's
   host-memory copy. Counts bytes read + written; best of REPS. Build: gcc -O3 -march=native -fopenmp */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) / 8 : (1L << 27);
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    double *a = aligned_alloc(4096, n * 8), *b = aligned_alloc(4096, n * 8);
#pragma omp parallel for
    for (long i = 0; i < n; i++) { a[i] = 1.0 + i * 1e-9; b[i] = 0.0; }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = omp_get_wtime();
#pragma omp parallel for
        for (long i = 0; i < n; i++) b[i] = a[i];
        t = omp_get_wtime() - t;
        if (t < best) best = t;
    }
    for (long i = 0; i < n; i += 4099) if (b[i] != a[i]) { fprintf(stderr, "copy wrong at %ld\n", i); return 1; }
    printf("%.3f\n", 2.0 * n * 8 / best / 1e9);
    return 0;
}
