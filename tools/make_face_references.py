#!/usr/bin/env python3
"""Runs mediapipe 0.10.14 itself on fixtures/faces/*.jpg and saves what LipSync's Vision module must
reproduce: face detections (short-range BlazeFace: relative box, 6 keypoints, score) and FaceMesh
landmarks (468 points, normalised to the image) in fixtures/faces/references.json.

  tools/.venv-mp/bin/python tools/make_face_references.py
"""
import glob
import json
import os

import mediapipe as mp
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "fixtures", "faces")


def main():
    out = {"mediapipe": mp.__version__, "images": {}}
    fd = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=4, refine_landmarks=False,
                                         min_detection_confidence=0.5)
    for path in sorted(glob.glob(os.path.join(DIR, "*.jpg"))):
        img = np.array(Image.open(path).convert("RGB"))
        h, w = img.shape[:2]
        dets = []
        for d in fd.process(img).detections or []:
            b = d.location_data.relative_bounding_box
            dets.append({"score": d.score[0], "box": [b.xmin, b.ymin, b.width, b.height],
                         "keypoints": [[k.x, k.y] for k in d.location_data.relative_keypoints]})
        faces = []
        for f in fm.process(img).multi_face_landmarks or []:
            faces.append([[p.x, p.y, p.z] for p in f.landmark])
        out["images"][os.path.basename(path)] = {"width": w, "height": h, "detections": dets, "landmarks": faces}
        print(os.path.basename(path), w, h, len(dets), "detections", len(faces), "meshes")
    with open(os.path.join(DIR, "references.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
