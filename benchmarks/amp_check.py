"""Half precision on a GPU: speed and validation NLL of the same training in fp32 and with autocast (bfloat16
where the GPU has it), at the Tokyo market's size (500 tickers x 1,250 days here), batch 16,384, 4 epochs.

Run on a CUDA machine: ``python benchmarks/amp_check.py``. The figures are in benchmarks/README.md.
"""

from __future__ import annotations

import time

from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.network import ModelConfig
from forecasting.model.training import TrainConfig, train_model
from forecasting.preparation.dataset import prepare
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import TRAIN, VAL, chronological_split


def main() -> None:
    cube = build_features(clean_panel(synthetic_panel(500, 1250, seed=0)))
    prep = prepare(cube, chronological_split(cube.dates), 30)
    train = prep.dataset(prep.samples(TRAIN), with_target=True)
    val = prep.dataset(prep.samples(VAL), with_target=True)
    for amp in (False, True):
        start = time.perf_counter()
        result = train_model(
            train,
            val,
            ModelConfig(dist="studentt"),
            TrainConfig(epochs=4, patience=4, batch_size=16384, device="cuda", amp=amp),
        )
        print(
            f"amp {amp}: val NLL by epoch {[round(h['val_loss'], 4) for h in result.history]}, "
            f"{result.windows_per_second:,.0f} windows/s, {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
