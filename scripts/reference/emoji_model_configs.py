"""Writes the configs of the bundled emoji model (issue 10) exactly as diffusers 0.30 / transformers 4.44
save_pretrained write them: unet/, vae/, scheduler/ through diffusers' own classes (every key, diffusers'
JSON layout), text_encoder/config.json and model_index.json in transformers'/diffusers' layout.
The tokenizer files (CLIP's first 8,000 merges) are written by the Java ClipVocabularyCut, not here.

Usage: source scripts/reference/pyenv.sh; $REF_PYTHON scripts/reference/emoji_model_configs.py models/jdiffusion-emoji
"""
import json
import os
import sys

from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel

VOCAB = 8514          # 256 bytes + 256 bytes</w> + 8,000 merges + <|startoftext|> + <|endoftext|>
BOS, EOS = VOCAB - 2, VOCAB - 1
WIDTH = 96            # text encoder width = the UNet's cross_attention_dim


def unet():
    return UNet2DConditionModel(
        sample_size=16,                                  # 16×16×4 latents of 64×64 images
        block_out_channels=(64, 96, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),   # 16², 8², 4²
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 3, 4),                    # diffusers' name for the head count: 32 channels a head
        cross_attention_dim=WIDTH,
        use_linear_projection=True,
        norm_num_groups=32,
    )


def vae():
    return AutoencoderKL(
        sample_size=64,
        block_out_channels=(32, 64, 64),                 # two downsamplers: factor 4
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        scaling_factor=0.18215,                          # placeholder: set to 1/std of the trained VAE's latents
    )


def scheduler():
    # SD 1.5's noise schedule (what training adds noise with), sampled by DPM-Solver++(2M) as diffusers' from_config
    # makes it from SD 1.5's scheduler config.
    sd15 = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
            "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
            "clip_sample": False, "prediction_type": "epsilon", "timestep_spacing": "leading", "trained_betas": None}
    return DPMSolverMultistepScheduler.from_config(sd15)


TEXT_ENCODER = {  # the keys transformers 4.44's CLIPTextConfig.save_pretrained writes (as in testdata/tiny-sd15)
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": BOS,
    "eos_token_id": EOS,
    "hidden_act": "quick_gelu",
    "hidden_size": WIDTH,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 4 * WIDTH,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 3,
    "num_hidden_layers": 4,
    "pad_token_id": EOS,
    "projection_dim": WIDTH,
    "torch_dtype": "float32",
    "transformers_version": "4.44.0",
    "vocab_size": VOCAB,
}

MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.30.0",
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def main(out):
    unet().save_config(os.path.join(out, "unet"))
    vae().save_config(os.path.join(out, "vae"))
    scheduler().save_config(os.path.join(out, "scheduler"))
    os.makedirs(os.path.join(out, "text_encoder"), exist_ok=True)
    with open(os.path.join(out, "text_encoder", "config.json"), "w") as f:
        f.write(json.dumps(TEXT_ENCODER, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(out, "model_index.json"), "w") as f:
        f.write(json.dumps(MODEL_INDEX, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
