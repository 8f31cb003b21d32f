import assert from "node:assert/strict";
import { formatEpochLine, formatSavingLine } from "../../lib/train/log.ts";

Deno.test("formatEpochLine() and formatSavingLine() print the tutorial's lines", () => {
  assert.equal(
    formatEpochLine({ epoch: 3, trainLoss: 1.2345674, validLoss: 1.1234556 }),
    "Epoch: 3 \tTraining Loss: 1.234567 \tValidation Loss: 1.123456",
  );
  assert.equal(
    formatEpochLine({ epoch: 12, trainLoss: 0.5, validLoss: null }),
    "Epoch: 12 \tTraining Loss: 0.500000 \tValidation Loss: n/a",
  );
  assert.equal(
    formatSavingLine(0.612345, 0.598765),
    "Validation loss decreased (0.612345 --> 0.598765).  Saving model ...",
  );
  assert.equal(
    formatSavingLine(Infinity, 2.3),
    "Validation loss decreased (inf --> 2.300000).  Saving model ...",
  );
});
