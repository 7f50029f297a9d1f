"""Evaluation suite: one protocol, metrics, baseline adapters, reports.

    protocol.py      the fixed protocol every method is scored under (face crop from the ground truth, crop
                     resolution, 25 fps, 16 kHz mono) and per-method frame alignment against ground truth
    metrics/         image.py (PSNR, SSIM, LPIPS, FID), sharpness.py (CPBD),
                     landmarks.py (LMD, blink rate, head-pose statistics, jitter)
    sync.py          SyncNet v2 (LSE-D, LSE-C, AV offset; official weights from the cache) and an offline
                     lip-sync score that needs no external weights
    baselines/       adapters that drive Wav2Lip, MakeItTalk and PC-AVS through their own CLIs, and a folder mode
    score.py         scores one method over a split: per-clip rows + a metrics JSON
    report/          the comparison report: inputs, table (markdown + CSV), plots, videos, wandb_run

Definitions and quirks: eval/README.md.
"""
