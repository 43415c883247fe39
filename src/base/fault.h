/* Fault injection for the crash and signal tests: named points in the write paths where a test
 * can make the process kill itself (kill -9) or raise a signal at an exact moment, instead of
 * hoping a timed `kill` lands there.
 *
 *   CTUNE_FAULT="ckpt.save.written@3:term,train.step@5:kill"
 *
 * is a comma-separated list of POINT[@N][:ACTION]: at the N-th time (default 1) the process
 * passes ct_fault_point("POINT"), ACTION happens: kill (default; raise(SIGKILL), what kill -9
 * does), term (raise(SIGTERM)) or int (raise(SIGINT)). Without CTUNE_FAULT every point is a
 * no-op (one getenv per process). Points in the library (grep ct_fault_point):
 *   train.step           after each optimizer step, before logging and saving
 *   ckpt.save.written    checkpoint files written into checkpoint-N.tmp, manifest not yet
 *   ckpt.save.sealed     manifest written, checkpoint-N.tmp not yet renamed
 *   dir.remove.renamed   ct_dir_remove (checkpoint rotation): the directory renamed to
 *                        <path>.trash, not yet deleted
 *   final.written        final outputs written into output_dir/.final.tmp, not yet moved in
 * Test use only; docs/robustness.md lists the tests that use each point. */
#ifndef CT_BASE_FAULT_H
#define CT_BASE_FAULT_H

void ct_fault_point(const char *name);

#endif
