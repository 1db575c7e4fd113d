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

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "mvtec"  # 'mvtec' (a folder in MVTec AD layout) or 'synthetic'
    config.dataset.root = ""
    config.dataset.category = "bottle"
    config.dataset.image_size = 256
    config.dataset.seed = 0  # the embedded dataset's generator seed
    config.dataset.num_workers = 2

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 16
    config.train.num_epochs = 200
    config.train.num_steps = -1  # > 0 overrides num_epochs
    config.train.learning_rate = 0.005
    config.train.b1 = 0.5
    config.train.b2 = 0.999
    config.train.loss = "flattened"  # RD4AD's released loss; 'per_pixel' = the paper's
    config.train.log_every = 10
    config.train.checkpoint_every = 500
    config.train.keep_checkpoints = 2

    config.eval = ml_collections.ConfigDict()
    config.eval.batch_size = 16
    config.eval.combine = "add"  # sum of the per-scale maps; 'mul' = product
    config.eval.sigma = 4.0  # Gaussian smoothing (33 taps); 0 = none
    config.eval.num_overlays = 6
    return config
