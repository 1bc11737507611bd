// PLACEHOLDER: poslog adapter tests are being written.
