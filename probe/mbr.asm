; nvmx probe, BIOS boot sector: loads stage 2 (stage2.asm) from the sectors after the MBR and runs it.
; The parameters below are written by the image builder (src/probe/image.ts); the partition table (bytes
; 446-509) holds the EFI system partition that carries the same probe as a UEFI application.
bits 16
org 0x7c00

    jmp short start
    nop
params:                             ; 0x7c03 (offsets relative to the sector: 3..)
p_stage2_lba:   dd 0                ; 3
p_stage2_cnt:   dw 0                ; 7
p_core_lba:     dd 0                ; 9
p_core_cnt:     dw 0                ; 13
p_blob_lba:     dd 0                ; 15
p_blob_cnt:     dd 0                ; 19
p_flags:        dd 0                ; 23 (reserved)

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [0x0600], dl                ; boot drive, for stage 2 (0x600: free low memory)
    mov ah, 0x41
    mov bx, 0x55aa
    int 0x13
    jc no_ext
    cmp bx, 0xaa55
    jne no_ext
    mov ax, [p_stage2_cnt]
    mov [dap_count], ax
    mov eax, [p_stage2_lba]
    mov [dap_lba], eax
    mov si, dap
    mov ah, 0x42
    mov dl, [0x0600]
    int 0x13
    jc read_err
    jmp 0:0x7e00

no_ext:
    mov si, s_noext
    jmp fail
read_err:
    mov si, s_read
fail:
    lodsb
    test al, al
    jz .h
    out 0xe9, al
    mov ah, 0x0e
    mov bx, 7
    int 0x10
    jmp fail
.h:
    cli
    hlt
    jmp .h

align 4
dap:
    db 16, 0
dap_count: dw 0
    dw 0x7e00, 0                    ; buffer
dap_lba: dd 0, 0

s_noext: db "NVMX-PROBE: the BIOS has no INT 13h extensions", 13, 10, 0
s_read:  db "NVMX-PROBE: disk read failed (stage 2)", 13, 10, 0

times 440 - ($ - $$) db 0
; 440: disk signature, 446: partition table, 510: boot signature (written by the image builder)
times 510 - ($ - $$) db 0
dw 0xaa55
