"""The search team's review of a detect run: chips (``chips.py``) and one offline HTML page (``page.py``)."""
from sspnet.review.chips import write_chips, write_preview
from sspnet.review.page import PAGE, check_tile_url, write_review

__all__ = ["PAGE", "check_tile_url", "write_chips", "write_preview", "write_review"]
