"""The defaults every config starts from: RD4AD's paper recipe on MVTec AD."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.method = "rd4ad"
    config.seed = 111  # the original repos' setup_seed(111)

    config.model = ml_collections.ConfigDict()
    config.model.teacher = "wide_resnet50_2"
    config.model.pretrained = True
    config.model.teacher_weights = ""  # a .pth/.safetensors/.npz file; '' = look it up
    config.model.dtype = "float32"  # compute dtype; 'bfloat16' on GPU/TPU

    # Datasets are TFDS builders (rdjax/data/builders), prepared once into a cache and decoded
    # into memory; layouts, splits and bad-file handling: docs/datasets.md.
    config.dataset = ml_collections.ConfigDict()
    # 'mvtec', 'visa', 'btad', 'mpdd', 'magnetic_tile', 'folder' (your own images) or 'synthetic'
    # (the embedded dataset, generated; nothing to download).
    config.dataset.name = "mvtec"
    config.dataset.root = ""  # the source folder (unused for 'synthetic')
    # mvtec: bottle, cable, ...; visa: candle, ...; btad: 01/02/03; mpdd: bracket_black, ...;
    # synthetic: brick/grass/gravel; '' for magnetic_tile and folder (no categories).
    config.dataset.category = "bottle"
    config.dataset.image_size = 256  # square side, PIL bilinear resize on the host
    config.dataset.seed = 0  # the embedded dataset's generator seed
    config.dataset.num_workers = 2  # threads decoding + resizing images
    # Prepared datasets go to <data_dir>/tfds; '' = $RDJAX_DATA_DIR/tfds, else ~/.cache/rdjax/tfds.
    config.dataset.data_dir = ""
    # False: a corrupt/truncated image, a missing or wrong-size mask stops the run, naming the file.
    # True: such files are left out; the log (and Split.skipped_files) names each one.
    config.dataset.skip_bad_files = False
    # Only for name='folder' (paths relative to root, or absolute; lists comma-separated):
    config.dataset.folder = ml_collections.ConfigDict()
    config.dataset.folder.normal_dir = "good"  # defect-free images
    config.dataset.folder.defect_dirs = ""  # one folder per defect type; '' = every other folder
    config.dataset.folder.mask_dirs = ""  # masks <mask_dir>/[<defect_dir>/]<name>_mask.png; '' = none
    config.dataset.folder.test_fraction = 0.2  # share of normal images held out for testing

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 16
    config.train.num_epochs = 200
    config.train.num_steps = -1  # > 0 overrides num_epochs
    # True: each epoch is one shuffled pass whose last batch holds the n mod batch_size
    # remaining images, as PyTorch's DataLoader without drop_last in every released RD-family
    # training loop (209 images: 13 batches of 16, then 1). False: only full batches, which
    # straddle epochs. Several devices: rdjax/data/pipeline.py.
    config.train.partial_batches = True
    config.train.learning_rate = 0.005
    config.train.b1 = 0.5
    config.train.b2 = 0.999
    config.train.loss = "flattened"  # RD4AD's released loss; 'per_pixel' = the paper's
    config.train.log_every = 10
    config.train.checkpoint_every = 500
    config.train.keep_checkpoints = 2
    # Compute the frozen teacher's features of the training images once and feed them in
    # each batch (only for methods with RD4AD's own, un-augmented loss; see
    # rdjax/train/feature_cache.py). dtype: '' = model.dtype, or float32/bfloat16/float16;
    # storage: 'host' (sent with each batch) or 'device' (a replicated copy per device).
    config.train.cache_teacher_features = True
    config.train.teacher_cache_dtype = ""
    config.train.teacher_cache_storage = "host"

    config.eval = ml_collections.ConfigDict()
    config.eval.batch_size = 16
    config.eval.combine = "add"  # sum of the per-scale maps; 'mul' = product
    config.eval.sigma = 4.0  # Gaussian smoothing (33 taps); 0 = none
    config.eval.num_overlays = 6

    # The normal/defect decision threshold, chosen after training (rdjax/eval/threshold.py)
    # and saved as <workdir>/threshold.json.
    config.threshold = ml_collections.ConfigDict()
    config.threshold.mode = "auto"  # 'quantile' | 'f1' | 'auto' (f1 with a validation set, else quantile)
    config.threshold.holdout_fraction = 0.1  # of train images kept out of training; 0 = train on all
    config.threshold.quantile = 0.99  # of held-out normal image scores
    config.threshold.validation_root = ""  # MVTec-layout folder whose <category>/test picks an F1 cut
    return config
