// PLACEHOLDER: odoo adapter tests are being written.
