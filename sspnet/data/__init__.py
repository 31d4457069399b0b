"""Datasets: one record type (``ImageRecord``) from TinyPerson/COCO JSON, VisDrone txt and YOLO txt readers."""
from sspnet.data.detect_format import FORMATS, detect_format, load_dataset
from sspnet.data.record import ImageRecord

__all__ = ["FORMATS", "ImageRecord", "detect_format", "load_dataset"]
