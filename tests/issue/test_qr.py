"""The QR matrix: masks chosen on arrays, the symbol still reportlab's."""

from __future__ import annotations

import numpy as np
from reportlab.graphics.barcode import qrencoder

from pipelines.issue.qr import qr_matrix


def test_the_qr_matrix_is_reportlab_s_encoding_with_the_chosen_mask():
    """Masks are chosen on arrays (fast); the symbol must still be reportlab's, bit for bit."""
    for data in ("hocba:S-B:1:" + "0" * 64, "hocba:HN-BD-THCS01-HB-0001:12:" + "ab" * 32, "x" * 300):
        ours = np.array(qr_matrix(data))
        matches = []
        for mask in range(8):
            q = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
            q.addData(data)
            q.version = q.calculate_version()
            q.makeImpl(False, mask)
            matches.append(np.array_equal(ours, np.array(q.modules, dtype=bool)))
        assert matches.count(True) == 1, data
