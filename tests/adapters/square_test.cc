// PLACEHOLDER: square adapter tests are being written.
